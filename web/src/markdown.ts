/** Markdown for descriptions and comments: rendered by marked, then sanitised so no script runs
 * and nothing a person writes can restyle or cover the app: no `style` attributes or elements, and
 * no `class` or `id` to borrow the app's own CSS (a full-screen fake page over the board). */
import DOMPurify from "dompurify";
import { marked } from "marked";

marked.setOptions({ gfm: true, breaks: true });

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style"],
  FORBID_ATTR: ["style", "class", "id"],
};

export function renderMarkdown(src: string): string {
  const html = marked.parse(src, { async: false }) as string;
  return DOMPurify.sanitize(html, SANITIZE);
}
