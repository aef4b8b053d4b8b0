// Package loadgen is the measuring harness of issue 11: a load generator of
// valid catalog events over OTLP/HTTP (protobuf) and OTLP gRPC, and Bench,
// which runs the built collector with the default configuration in places
// of its own (schema, Redis prefix, ports, queue directory) and measures
// sustained throughput against raw COPY, send-to-visible latency at fixed
// rates, peak RSS, refusals and retries, and checks zero loss and zero
// duplicates at the end. cmd/bench-e2e (`make bench-e2e`) is its command.
//
// Requests are encoded before they are sent (Generator.EncodeAll), each
// event with a unique, time-ordered event.id (IDSpace) whose sequence
// number PostgreSQL can read back, so that what was stored can be checked
// request by request against what was acknowledged (Result.Acknowledged,
// Checker.Verify).
package loadgen
