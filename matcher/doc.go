// Package matcher stores webhook subscriptions, decides which of them want each CRM event,
// and renders the delivery items of a chunk (DESIGN.md §4–5).
//
// # Store
//
// Store keeps webhooks in walhook.webhooks (migration 0002), events and options exactly as
// the client sent them. A trigger announces every change on the channel NotifyChannel.
//
// # Matching
//
// Each webhook is compiled once, when it is loaded, never per event: its event patterns,
// custom entity names, skip keys, and per-entity filters (values parsed once into every
// form a column kind may need), on-field-change lists and expand/load-only trees. The
// compiled subscriptions form an immutable index by exact event name, "<Entity>.*" and
// "*", replaced atomically on every reload. Match therefore:
//
//   - is safe for concurrent use and never blocks on a reload;
//   - costs per event only the subscriptions whose patterns name the event, so webhooks
//     subscribed to other events cost nothing (BenchmarkMatch);
//   - does not allocate unless it appends a Match beyond dst's capacity.
//
// Staleness bound: Run LISTENs for change notifications and reloads within Config.Debounce
// (20 ms) of a burst of them, and reloads everything every Config.ReloadInterval (30 s)
// whatever happens, so a webhook created, changed or deleted through any instance takes
// effect on every instance well within one second while the database is reachable.
//
// # Semantics
//
// An event matches a webhook when an event pattern names it; for custom entity events
// (CustomEntity.<Action>) also when the entity is listed in options.custom_entity_api_name
// ("*" alone receives no custom entity events); when none of the event's skip keys is in
// options.skip_keys; and, if options.entity has the event's entity, when on-field-change
// (Update events only) names a changed field and every filter field passes. Filters are
// evaluated on the new row, on the old row for Delete; link events (DocumentLinked,
// Comment) carry no parent row and are not filtered. Filter comparisons follow the column's
// kind; see compare and the README section in api/README-section.md.
//
// # Rendering
//
// Render builds each item's JSON by hand from the events' rows, batching the CRM reads of a
// whole chunk: one query per expanded relation, per link-parent entity and per related
// entity, never one per event. It renders with the compiled subscription that a Match
// carries (Match.Sub), the one that matched the events, so it looks nothing up in the index
// and a reload between matching and rendering changes nothing.
//
// # Bounds
//
// One webhook must not make walhook render gigabytes (issue 8). The API refuses cyclic
// expand paths and paths of more than MaxExpandDepth relations (checkExpandPath). Render
// reads at most Config.MaxExpandRows (+1, to know) rows per one-to-many expansion and
// owning row, numbered in the query (row_number) so that no more are sent; keeps each
// item within ItemLimit(MaxBodyBytes) while encoding it (an item that passes it is
// abandoned at once and encoded again without expansions, then without rows); and reads
// at most the chunk's items times that bound of expansion rows. Whatever a bound cuts,
// the item's truncated member names; walhook_render_truncated_total counts, and a WARN
// (once a minute per webhook) says so.
package matcher
