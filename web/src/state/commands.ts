/**
 * The command table, as the web reads it: every client command is a member of the envelope's
 * payload carrying a (tandem.v1.command) option (proto/tandem/v1/websocket.proto), which says
 * whether it mutates, the words for it, the member of Ack.result it answers with, and its REST
 * form. Nothing here lists the commands again: to add one, declare it in the proto table and give
 * the web a handler (an optimistic overlay in overlay.ts if it mutates, else a sender in
 * connection.ts); commands.test.ts fails until both sides agree.
 */
import {
  create,
  getOption,
  hasOption,
  type DescField,
  type DescMessage,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { command as commandOption, type HttpRule } from "../gen/tandem/v1/options_pb";
import { AckSchema, WebSocketMessageSchema, type Ack, type WebSocketMessage } from "../proto";
import { newId } from "./ids";

/** Every member of the envelope's payload, by its TypeScript case name. */
export type PayloadCase = NonNullable<WebSocketMessage["payload"]["case"]>;
/** A payload as protobuf-es builds it from plain values: { case: "moveTask", value: {...} }. */
export type PayloadInit = NonNullable<MessageInitShape<typeof WebSocketMessageSchema>["payload"]>;
export type CommandInit<C extends PayloadCase = PayloadCase> = Extract<PayloadInit, { case: C }>;
/** The command message a case carries (MoveTask for "moveTask"). */
export type CommandValue<C extends PayloadCase> = Extract<WebSocketMessage["payload"], { case: C }>["value"];
export type ResultCase = NonNullable<Ack["result"]["case"]>;

export interface CommandSpec {
  /** The payload member's case name ("createTask"). */
  readonly case: PayloadCase;
  /** The envelope's field for the command. */
  readonly field: DescField;
  /** The command message ("tandem.v1.CreateTask"). */
  readonly schema: DescMessage;
  readonly mutates: boolean;
  /** Changes only the sender's own things (their inbox, what they watch): viewers may send it. */
  readonly personal: boolean;
  /** Completes "Couldn't ...". */
  readonly verb: string;
  /** The Ack.result member it answers with, if any. */
  readonly result: ResultCase | undefined;
  readonly http: HttpRule | undefined;
}

function readTable(): ReadonlyMap<PayloadCase, CommandSpec> {
  // The option names the Ack member as the schema spells it ("inbox_state"); the web's case is
  // its TypeScript name ("inboxState").
  const resultCases = new Map(AckSchema.fields.map((f) => [f.name, f.localName]));
  const table = new Map<PayloadCase, CommandSpec>();
  for (const field of WebSocketMessageSchema.fields) {
    if (field.fieldKind !== "message" || !hasOption(field, commandOption)) continue;
    const o = getOption(field, commandOption);
    if (o.result && !resultCases.has(o.result)) throw new Error(`${field.name}: no Ack result "${o.result}"`);
    table.set(field.localName as PayloadCase, {
      case: field.localName as PayloadCase,
      field,
      schema: field.message,
      mutates: o.mutates,
      personal: o.personal,
      verb: o.verb,
      result: (o.result ? resultCases.get(o.result) : undefined) as ResultCase | undefined,
      http: o.http,
    });
  }
  return table;
}

/** The one command table, keyed by case name. */
export const COMMANDS = readTable();

/** The spec of a command; undefined for a payload that is not a client command. */
export function commandSpec(c: PayloadCase | undefined): CommandSpec | undefined {
  return c ? COMMANDS.get(c) : undefined;
}

/** Words for a failed command: "Couldn't <verb>". */
export function verbOf(c: PayloadCase | undefined): string {
  return commandSpec(c)?.verb || "save the change";
}

/** A command in its envelope with a fresh message id (the server deduplicates by it). */
export function envelope(payload: PayloadInit, messageId = newId()): WebSocketMessage {
  return create(WebSocketMessageSchema, { messageId, payload });
}
