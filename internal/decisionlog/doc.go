// Package decisionlog records the permission decisions the server answers (Check,
// each CheckBulk item, lookups) into the datastore, off the request path.
//
// The server hands each decision that passes the filters and the sampling to Record,
// which never blocks: it puts the decision on a bounded queue, and when the queue is
// full it drops the decision and counts it in pemba_decision_log_dropped_total. One
// writer goroutine (Run, owned by the process's loops) takes decisions off the queue
// in batches and writes each batch in one store transaction, and deletes decisions
// older than the retention. So a slow or failing store costs dropped records, never
// Check latency.
package decisionlog
