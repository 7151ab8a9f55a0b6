// Package serve is the Pemba server process: it turns a Config (filled by the CLI's
// flags) into a running service and shuts it down in order.
//
// NewStack builds the serving core over a given store — the in-memory relationship
// index, the engine, the write path, governance and the gRPC/REST server — with the
// server's limits passed down to every layer. Run opens the configured store, builds
// the stack, starts it, owns the background loops (index warm-up, page release,
// garbage collection), profiling and tracing, and on SIGTERM or SIGINT stops them in
// order: requests drain, loops end, then the store closes.
package serve
