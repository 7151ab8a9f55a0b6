// Package requests is the model of access requests: a subject asks for one
// relationship (resource#relation@subject), and it is granted when every party of the
// relation's approval policy (schema.Schema.ApprovalPolicy) has approved it.
//
// A request is a datastore record of kind Kind, so it is revisioned and read at a
// revision like the relationships it leads to, and its changes travel in the change
// feed. This package encodes requests, finds them (by id, by requester, the inbox of
// an approver) and decides who may act on one; the state changes themselves are
// made by the write path (internal/write), in one transaction with the grant.
//
// Expiry is lazy: a pending request past its ExpiresAt reads as expired everywhere,
// and the next operation on it (or a new request for the same relationship) stores
// the expired state. No loop sweeps requests.
package requests
