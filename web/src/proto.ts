/** One import point for the generated protobuf types and the few protobuf-es helpers the UI uses. */
export { create, clone, toBinary, fromBinary, toJson, fromJson } from "@bufbuild/protobuf";
export { FieldMaskSchema, timestampDate } from "@bufbuild/protobuf/wkt";
export * from "./gen/tandem/v1/entities_pb";
export * from "./gen/tandem/v1/commands_pb";
export * from "./gen/tandem/v1/events_pb";
export * from "./gen/tandem/v1/errors_pb";
export * from "./gen/tandem/v1/websocket_pb";
export * from "./gen/tandem/v1/api_pb";
export * from "./gen/tandem/v1/reports_pb";
export * from "./gen/tandem/v1/inbox_pb";
export * from "./gen/tandem/v1/diagnostics_pb";
export * from "./gen/tandem/v1/transfer_pb";
