package protoconv

import (
	"fmt"
	"strings"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// MinimizeLatency asks for a recent revision that many requests share (the default).
func MinimizeLatency() *pb.Consistency {
	return &pb.Consistency{Requirement: &pb.Consistency_MinimizeLatency{MinimizeLatency: true}}
}

// FullyConsistent asks for the newest committed revision.
func FullyConsistent() *pb.Consistency {
	return &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}
}

// AtLeastAsFresh asks for a revision at least as new as the token's.
func AtLeastAsFresh(token string) *pb.Consistency {
	return &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: token}}
}

// AtExactSnapshot asks for exactly the token's revision.
func AtExactSnapshot(token string) *pb.Consistency {
	return &pb.Consistency{Requirement: &pb.Consistency_AtExactSnapshot{AtExactSnapshot: token}}
}

// ParseConsistency reads the text form of a consistency requirement:
// minimize_latency, fully_consistent, at_least_as_fresh:TOKEN or
// at_exact_snapshot:TOKEN. Empty gives nil, which leaves the choice to the server
// (minimize_latency).
func ParseConsistency(s string) (*pb.Consistency, error) {
	mode, token, hasToken := strings.Cut(strings.TrimSpace(s), ":")
	switch mode {
	case "":
		return nil, nil
	case "minimize_latency", "fully_consistent":
		if hasToken {
			break
		}
		if mode == "fully_consistent" {
			return FullyConsistent(), nil
		}
		return MinimizeLatency(), nil
	case "at_least_as_fresh", "at_exact_snapshot":
		if !hasToken || token == "" {
			return nil, fmt.Errorf("%s needs a token: %s:TOKEN (a token printed by an earlier command)", mode, mode)
		}
		if mode == "at_least_as_fresh" {
			return AtLeastAsFresh(token), nil
		}
		return AtExactSnapshot(token), nil
	}
	return nil, fmt.Errorf("%q is not one of minimize_latency, fully_consistent, at_least_as_fresh:TOKEN, at_exact_snapshot:TOKEN", s)
}
