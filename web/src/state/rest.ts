/**
 * The REST fallback sender: one outbox command as the REST call the command table declares for
 * it (method and path from its http rule, {jsonName} path parameters from the command's own
 * fields, the body the rule names), and the answer back as the envelope the WebSocket would have
 * sent (an Ack with the table's result member, or a Reject).
 */
import { toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { AckSchema, ErrorCode, ErrorResponseSchema, fromJson, type WebSocketMessage } from "../proto";
import { commandSpec, envelope } from "./commands";
import type { RestClient } from "./http";

export interface RestRequest {
  method: string;
  path: string;
  /** JSON text, or undefined for no body. */
  body: string | undefined;
  /** The Ack.result member's JSON name the answer fills; "" when none (and for 204). */
  resultJsonName: string;
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The REST call for a command, or undefined when the table gives it no REST form. */
export function restRequest(msg: WebSocketMessage): RestRequest | undefined {
  const spec = commandSpec(msg.payload.case);
  const http = spec?.http;
  if (!spec || !http || msg.payload.value === undefined) return undefined;
  const json = toJson(spec.schema, msg.payload.value);
  const fields = isObject(json) ? json : {};
  const path = http.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(fields[name] ?? "")));
  let body: string | undefined;
  if (http.body === "*") body = JSON.stringify(fields);
  else if (http.body) {
    const field = spec.schema.fields.find((f) => f.name === http.body);
    body = JSON.stringify(field ? (fields[field.jsonName] ?? {}) : {});
  }
  const result = spec.result && http.status !== 204 ? AckSchema.fields.find((f) => f.localName === spec.result) : undefined;
  return { method: http.method, path, body, resultJsonName: result?.jsonName ?? "" };
}

/** Sends one command through REST; returns the envelope the WebSocket would have sent. Throws on
 * a network failure or a server fault, so the caller keeps the command and tries again. */
export async function sendRest(rest: RestClient, msg: WebSocketMessage): Promise<WebSocketMessage> {
  const req = restRequest(msg);
  if (!req) {
    return envelope(
      { case: "reject", value: { error: { code: ErrorCode.UNSUPPORTED, message: "not available without the live connection" } } },
      msg.messageId,
    );
  }
  const r = await rest.fetch(req.path, {
    method: req.method,
    headers: { "Content-Type": "application/json", "Idempotency-Key": msg.messageId },
    body: req.body,
  });
  if (r.status >= 500 && r.status !== 503) throw new Error(`HTTP ${r.status}`);
  const text = await r.text();
  const data = (text ? JSON.parse(text) : {}) as JsonValue;
  if (!r.ok) {
    const err = fromJson(ErrorResponseSchema, data, { ignoreUnknownFields: true }).error;
    return envelope({ case: "reject", value: { error: err } }, msg.messageId);
  }
  const ack = fromJson(AckSchema, req.resultJsonName ? { [req.resultJsonName]: data } : {}, { ignoreUnknownFields: true });
  return envelope({ case: "ack", value: ack }, msg.messageId);
}
