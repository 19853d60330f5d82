/**
 * Search everywhere: tasks of every project by their title, description or comments, from the
 * server's full-text index (GET /api/v1/search), a page at a time, best match first. The words
 * live in the address (#/search/WORDS), so a search can be reloaded, shared or gone back to.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { clientId, displayName, route } from "../app-context";
import { ErrorResponseSchema, fromJson, SearchResponseSchema, type SearchHit } from "../proto";
import { RestClient } from "../state/http";
import { focusOnMount, statusName } from "./common";
import "./pages.css";

const PAGE = 20;
/** How long typing pauses before the search is asked (one request per pause, not per key). */
const SETTLE_MS = 150;
// The server marks each match in a snippet between these two characters (see api.proto).
const MARK_START = "\u0002";
const MARK_END = "\u0003";

let rest: RestClient | null = null;
function client(): RestClient {
  return (rest ??= new RestClient({ clientId: clientId(), displayName: displayName.value, fetch: (...a) => globalThis.fetch(...a), onDenied: () => false }));
}

export interface SearchPage {
  hits: SearchHit[];
  next: string;
  total: number;
}

/** One page of matches; rejects with the server's own words when it refuses the query. */
export async function searchTasks(q: string, pageToken = "", pageSize = PAGE): Promise<SearchPage> {
  const params = new URLSearchParams({ q, pageSize: String(pageSize) });
  if (pageToken) params.set("pageToken", pageToken);
  const r = await client().fetch(`/api/v1/search?${params}`);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = fromJson(ErrorResponseSchema, body, { ignoreUnknownFields: true }).error;
    throw new Error(err?.message || `the server answered ${r.status}`);
  }
  const page = fromJson(SearchResponseSchema, body, { ignoreUnknownFields: true });
  return { hits: page.hits, next: page.nextPageToken, total: page.totalSize };
}

/** The address of the search page for some words. */
export function searchHref(q: string): string {
  return `#/search/${encodeURIComponent(q)}`;
}

/** A snippet with its matches as <mark>: plain text pieces, never markup from the server. */
export function Snippet({ text }: { text: string }) {
  const parts: preact.ComponentChild[] = [];
  let rest = text;
  for (let i = 0; rest; i++) {
    const s = rest.indexOf(MARK_START);
    if (s < 0) {
      parts.push(rest);
      break;
    }
    const e = rest.indexOf(MARK_END, s);
    parts.push(rest.slice(0, s));
    const end = e < 0 ? rest.length : e;
    parts.push(<mark key={i}>{rest.slice(s + 1, end)}</mark>);
    rest = rest.slice(end + 1);
  }
  return <>{parts}</>;
}

const WHERE: Record<string, string> = { title: "title", description: "description", comment: "a comment" };

function Hit({ hit }: { hit: SearchHit }) {
  const t = hit.task!;
  return (
    <li class="search-hit" data-testid="search-hit">
      <a href={`#/p/${t.projectId}/t/${t.id}`}>
        <span class="hit-head">
          <span class="key">{t.key}</span>
          <span class="hit-title">{t.title}</span>
          <span class="muted hit-where">
            {hit.projectName} · {statusName(t.status)} · in {WHERE[hit.matchedIn] ?? hit.matchedIn}
          </span>
        </span>
        {hit.matchedIn !== "title" && hit.snippet && (
          <span class="hit-snippet">
            <Snippet text={hit.snippet} />
          </span>
        )}
      </a>
    </li>
  );
}

export function SearchPageView() {
  const words = route.value.search;
  const [q, setQ] = useState(words);
  const [page, setPage] = useState<SearchPage | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const asked = useRef(0);

  // The address is the source: typing writes it (without a history entry per key), back restores it.
  useEffect(() => setQ(words), [words]);
  useEffect(() => {
    const mine = ++asked.current;
    if (!q.trim()) {
      setPage(null);
      setError("");
      return;
    }
    const t = setTimeout(() => {
      setBusy(true);
      searchTasks(q.trim())
        .then((p) => mine === asked.current && (setPage(p), setError("")))
        .catch((e: Error) => mine === asked.current && (setPage(null), setError(e.message)))
        .finally(() => mine === asked.current && setBusy(false));
    }, SETTLE_MS);
    return () => clearTimeout(t);
  }, [q]);

  const more = () => {
    if (!page?.next) return;
    const mine = asked.current;
    searchTasks(q.trim(), page.next)
      .then((p) => mine === asked.current && setPage({ ...p, hits: [...page.hits, ...p.hits] }))
      .catch((e: Error) => mine === asked.current && setError(e.message));
  };

  return (
    <section class="search-page" aria-labelledby="search-title">
      <h1 id="search-title">Search everywhere</h1>
      <form role="search" onSubmit={(e) => e.preventDefault()}>
        <input
          ref={focusOnMount}
          type="search"
          class="search-everywhere"
          aria-label="Search every project"
          placeholder="Words from a title, description or comment, or a key like WEB-42"
          value={q}
          data-testid="search-input"
          onInput={(e) => {
            const v = (e.target as HTMLInputElement).value;
            setQ(v);
            history.replaceState(history.state, "", v ? searchHref(v) : "#/search");
          }}
        />
      </form>
      <p class="muted" role="status" data-testid="search-status">
        {error
          ? ""
          : !q.trim()
            ? "Finds tasks in every project by their title, description or comments."
            : busy && !page
              ? "Searching…"
              : page
                ? page.total === 0
                  ? "No task matches."
                  : `${page.total} ${page.total === 1 ? "task matches" : "tasks match"}`
                : ""}
      </p>
      {error && (
        <p class="danger-text" role="alert" data-testid="search-error">
          {error}
        </p>
      )}
      {page && page.hits.length > 0 && (
        <ul class="search-hits">
          {page.hits.map((h) => (
            <Hit key={h.task?.id} hit={h} />
          ))}
        </ul>
      )}
      {page?.next && (
        <button class="more" onClick={more}>
          Show more
        </button>
      )}
    </section>
  );
}
