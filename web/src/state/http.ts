/**
 * The REST client the connection, the fallback sender and the poller share: every call carries
 * this browser's identity, and a 401/403 may end access (decided by the caller's onDenied).
 */
import { fromJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";

/**
 * Header value for a display name: plain ASCII goes as is; anything else (or a "%") is
 * percent-encoded UTF-8, since fetch refuses header values outside Latin-1.
 */
export function headerName(name: string): string {
  return /^[\x20-\x7e]*$/.test(name) && !name.includes("%") ? name : encodeURIComponent(name);
}

/** A read whose answer nobody wants any more (polling ended, the project changed, access ended). */
export class Stale extends Error {
  constructor() {
    super("stale");
  }
}

export interface RestOptions {
  /** Prefix of REST paths; "" for the page's own origin. */
  apiBase?: string;
  clientId: string;
  displayName: string;
  fetch: typeof fetch;
  /** A 401 or 403 came back; true when that ended access (the read is then stale). */
  onDenied(status: number): boolean;
}

export class RestClient {
  constructor(private readonly opts: RestOptions) {}

  setDisplayName(name: string): void {
    this.opts.displayName = name;
  }

  /** Sent on every REST call, so the server credits the change to the same member the
   * WebSocket hello with this client id gets, not to the desktop owner. */
  identity(): Record<string, string> {
    return {
      Accept: "application/json",
      "X-Tandem-Client-Id": this.opts.clientId,
      "X-Tandem-Display-Name": headerName(this.opts.displayName),
    };
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return this.opts.fetch(`${this.opts.apiBase ?? ""}${path}`, { ...init, headers: { ...this.identity(), ...(init.headers as Record<string, string>) } });
  }

  /** GET as JSON; isCurrent() false once answered means nobody wants it (Stale). */
  async getJson(path: string, isCurrent?: () => boolean): Promise<JsonValue> {
    const r = await this.fetch(path);
    if (isCurrent && !isCurrent()) throw new Stale();
    if ((r.status === 401 || r.status === 403) && this.opts.onDenied(r.status)) throw new Stale();
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return (await r.json()) as JsonValue;
  }

  /** GET one message in its JSON form. */
  async get<Desc extends DescMessage>(schema: Desc, path: string, isCurrent?: () => boolean): Promise<MessageShape<Desc>> {
    return fromJson(schema, await this.getJson(path, isCurrent), { ignoreUnknownFields: true });
  }
}
