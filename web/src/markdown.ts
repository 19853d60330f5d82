/** Markdown for descriptions and comments: rendered by marked, then sanitised so no script runs. */
import DOMPurify from "dompurify";
import { marked } from "marked";

marked.setOptions({ gfm: true, breaks: true });
// A task list's boxes show the state; without a name a screen reader hears only "checkbox".
marked.use({
  renderer: {
    checkbox({ checked }) {
      return `<input ${checked ? 'checked="" ' : ""}disabled="" type="checkbox" aria-label="${checked ? "Done" : "Not done"}"> `;
    },
  },
});

export function renderMarkdown(src: string): string {
  const html = marked.parse(src, { async: false }) as string;
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
}
