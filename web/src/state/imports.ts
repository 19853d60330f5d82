/**
 * Sending a file to import: its preview (`previewImport`) and the import itself
 * (`importWorkspace`, over XMLHttpRequest, whose upload reports progress), both as binary
 * protobuf on the REST forms the command table gives them, as this browser's member.
 */
import {
  create,
  ErrorResponseSchema,
  fromBinary,
  ImportSummarySchema,
  ImportWorkspaceSchema,
  toBinary,
  type ImportFormat,
  type ImportSummary,
} from "../proto";
import { COMMANDS, type PayloadCase } from "./commands";
import { headerName } from "./http";
import { newId } from "./ids";

const PROTOBUF = "application/x-protobuf";
/** Imports are sent by this module, not the outbox: a file is no optimistic edit. */
export const IMPORT_COMMANDS = ["importWorkspace", "previewImport"] as const satisfies readonly PayloadCase[];

function pathOf(c: (typeof IMPORT_COMMANDS)[number]): string {
  const path = COMMANDS.get(c)?.http?.path;
  if (!path) throw new Error(`${c} has no REST form`);
  return path;
}

/** Who sends the file: the member the import's rows are credited to. */
export interface Sender {
  clientId: string;
  displayName: string;
}

function headers(who: Sender): Record<string, string> {
  return {
    "Content-Type": PROTOBUF,
    Accept: PROTOBUF,
    "X-Tandem-Client-Id": who.clientId,
    "X-Tandem-Display-Name": headerName(who.displayName),
  };
}

function errorOf(status: number, body: ArrayBuffer): string {
  try {
    const message = fromBinary(ErrorResponseSchema, new Uint8Array(body)).error?.message;
    if (message) return message;
  } catch {
    // not an ErrorResponse: say what came back
  }
  return `the server answered ${status}`;
}

export interface ImportRequest {
  data: Uint8Array;
  format: ImportFormat;
  fileName: string;
  columnMap: Record<string, string>;
  projectKey: string;
}

export async function preview(req: ImportRequest, who: Sender): Promise<ImportSummary> {
  // The preview's REST body is the file, as the import would send it.
  const body = toBinary(ImportWorkspaceSchema, create(ImportWorkspaceSchema, req));
  const r = await fetch(pathOf("previewImport"), { method: "POST", headers: headers(who), body });
  const answer = await r.arrayBuffer();
  if (!r.ok) throw new Error(errorOf(r.status, answer));
  return fromBinary(ImportSummarySchema, new Uint8Array(answer));
}

/** The import itself, over XMLHttpRequest: fetch cannot report an upload's progress. */
export function upload(req: ImportRequest, who: Sender, onProgress: (sent: number) => void): Promise<ImportSummary> {
  const body = toBinary(ImportWorkspaceSchema, create(ImportWorkspaceSchema, req));
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", pathOf("importWorkspace"));
    xhr.responseType = "arraybuffer";
    for (const [k, v] of Object.entries({ ...headers(who), "Idempotency-Key": newId() })) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.upload.onload = () => onProgress(1);
    xhr.onload = () => {
      const answer = xhr.response as ArrayBuffer;
      if (xhr.status === 200) resolve(fromBinary(ImportSummarySchema, new Uint8Array(answer)));
      else reject(new Error(errorOf(xhr.status, answer)));
    };
    xhr.onerror = () => reject(new Error("the connection to Tandem was lost; nothing was imported"));
    xhr.send(body);
  });
}

