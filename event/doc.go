// Package event is walhook's event vocabulary: what every source produces and every
// consumer reads. Sources are the replication reader (cdc) and, in time, inbound webhooks
// and backfills; consumers are the matcher, the sender and the API.
//
// It holds the entity event (Event, with its IDs, names, rows and related entity), the
// committed transaction (Txn), WAL positions (LSN, with PostgreSQL's text form), column
// values with their JSON encoding (Value, Kind), and the contract constants that make rows
// read by query render exactly like rows from the WAL (SessionParams, SessionSQL) and that
// name skip keys (SkipKeyPrefix) and landed inbound calls (InboundPrefix, with their
// message format: AppendInboundMessage, ParseInboundMessage).
//
// # Guarantees
//
//   - A leaf: it imports no other walhook package but internal helpers, and neither the
//     replication library nor a database driver (a dependency test keeps it so).
//   - Events are immutable once handed to a consumer and may be shared between goroutines.
//   - Value.AppendJSON writes a value's JSON without reflection: numerics exact, times in
//     RFC 3339, jsonb embedded as it is, one-dimensional arrays as arrays of their
//     elements' encodings.
package event
