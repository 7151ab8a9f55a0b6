package datastore

import (
	"context"
	"time"
)

// DecisionRetainer is a decision store that keeps decisions of one result for their
// own time (denied decisions, say, longer or shorter than the rest). Every store of
// this module implements it.
type DecisionRetainer interface {
	// DeleteDecisionsWithResultBefore removes the decisions with this result ("allowed",
	// "denied" or "conditional") decided before t, in every tenant, and returns how many.
	DeleteDecisionsWithResultBefore(ctx context.Context, result string, t time.Time) (int, error)
}
