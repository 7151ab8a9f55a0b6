package index

import (
	"cmp"
	"slices"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// servesForward reports whether a forward query has a shape the index answers: named
// resources of one type and one relation.
func servesForward(f datastore.RelationshipFilter) bool {
	return f.ResourceType != "" && len(f.ResourceIDs) > 0 && f.ResourceIDPrefix == "" && f.Relation != ""
}

// servesReverse reports whether a reverse query has a shape the index answers: named
// subjects.
func servesReverse(sf datastore.SubjectFilter) bool { return sf.Type != "" && len(sf.IDs) > 0 }

// sortedUnique returns ss sorted without duplicates, copying only when needed.
func sortedUnique(ss []string) []string {
	ordered := true
	for i := 1; i < len(ss); i++ {
		if ss[i-1] >= ss[i] {
			ordered = false
			break
		}
	}
	if ordered {
		return ss
	}
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// queryForward answers a forward query (servesForward must hold) at rev.
func (t *table) queryForward(f datastore.RelationshipFilter, opts datastore.QueryOptions, rev datastore.Revision, now int64) []tuple.Relationship {
	typ, ok1 := t.lookup(f.ResourceType)
	rel, ok2 := t.lookup(f.Relation)
	if !ok1 || !ok2 {
		return nil
	}
	var sType uint32
	var subjIDs []string
	if f.Subject != nil {
		var ok bool
		if sType, ok = t.lookup(f.Subject.Type); !ok {
			return nil
		}
		subjIDs = sortedUnique(f.Subject.IDs)
	}
	var out []tuple.Relationship
	full := func() bool { return opts.Limit > 0 && len(out) >= opts.Limit }
	emit := func(idx uint32) {
		r := &t.rows[idx]
		if !t.visible(r, rev, now) {
			return
		}
		if f.Subject != nil && len(f.Subject.Relations) > 0 && !slices.Contains(f.Subject.Relations, t.strs[r.subRel]) {
			return
		}
		if opts.After != nil && t.key(r).Compare(*opts.After) <= 0 {
			return
		}
		out = append(out, t.relationship(r))
	}
	for _, id := range sortedUnique(f.ResourceIDs) {
		rid, ok := t.lookup(id)
		if !ok {
			continue
		}
		list := t.fwd[objKey{typ, rid, rel}]
		if len(list) == 0 {
			continue
		}
		switch {
		case f.Subject == nil:
			for _, idx := range list {
				if emit(idx); full() {
					return out
				}
			}
		case len(subjIDs) == 0:
			for i := t.searchSubject(list, sType, 0); i < len(list) && t.rows[list[i]].subType == sType; i++ {
				if emit(list[i]); full() {
					return out
				}
			}
		default:
			for _, sid := range subjIDs {
				sidID, ok := t.lookup(sid)
				if !ok {
					continue
				}
				for i := t.searchSubject(list, sType, sidID); i < len(list); i++ {
					r := &t.rows[list[i]]
					if r.subType != sType || r.subID != sidID {
						break
					}
					if emit(list[i]); full() {
						return out
					}
				}
			}
		}
	}
	return out
}

// searchSubject returns the first position in a (resource, relation) list whose
// subject is at or after (sType, sID); sID 0 ("") finds the start of the type.
func (t *table) searchSubject(list []uint32, sType, sID uint32) int {
	probe := row{subType: sType, subID: sID}
	i, _ := slices.BinarySearchFunc(list, &probe, func(x uint32, target *row) int { return t.cmpSubject(&t.rows[x], target) })
	return i
}

// queryReverse answers a reverse query (servesReverse must hold) at rev.
func (t *table) queryReverse(sf datastore.SubjectFilter, opts datastore.ReverseQueryOptions, rev datastore.Revision, now int64) []tuple.Relationship {
	sType, ok := t.lookup(sf.Type)
	if !ok {
		return nil
	}
	var resType, relID uint32
	if opts.ResourceType != "" {
		if resType, ok = t.lookup(opts.ResourceType); !ok {
			return nil
		}
	}
	if opts.Relation != "" {
		if relID, ok = t.lookup(opts.Relation); !ok {
			return nil
		}
	}
	var out []tuple.Relationship
	for _, sid := range sortedUnique(sf.IDs) {
		sidID, ok := t.lookup(sid)
		if !ok {
			continue
		}
		list := t.rev[subjKey{sType, sidID}]
		start := 0
		var onlyRel uint32
		narrow := len(sf.Relations) == 1 && opts.ResourceType != ""
		if narrow {
			if onlyRel, ok = t.lookup(sf.Relations[0]); !ok {
				continue
			}
			probe := row{subRel: onlyRel, resType: resType}
			start, _ = slices.BinarySearchFunc(list, &probe, func(x uint32, target *row) int { return t.cmpResource(&t.rows[x], target) })
		}
		if a := opts.After; a != nil {
			// Resume after the cursor with a binary search rather than by skipping
			// rows, so paging through a long list stays linear.
			switch c := cmp.Compare(sf.Type, a.SubjectType); {
			case c == 0:
				c = cmp.Compare(sid, a.SubjectID)
				if c < 0 {
					continue
				}
				if c == 0 {
					start = max(start, t.searchAfter(list, a))
				}
			case c < 0:
				continue
			}
		}
		for i := start; i < len(list); i++ {
			r := &t.rows[list[i]]
			if narrow && (r.subRel != onlyRel || r.resType != resType) {
				break
			}
			if opts.ResourceType != "" && r.resType != resType {
				continue
			}
			if opts.Relation != "" && r.rel != relID {
				continue
			}
			if len(sf.Relations) > 0 && !slices.Contains(sf.Relations, t.strs[r.subRel]) {
				continue
			}
			if !t.visible(r, rev, now) {
				continue
			}
			if opts.After != nil && datastore.ReverseCompare(t.key(r), *opts.After) <= 0 {
				continue
			}
			out = append(out, t.relationship(r))
			if opts.Limit > 0 && len(out) >= opts.Limit {
				return out
			}
		}
	}
	return out
}

// searchAfter returns the first position in one subject's list whose row orders after
// the cursor a (which names that subject): rows are ordered by subject relation, then
// resource, then relation.
func (t *table) searchAfter(list []uint32, a *tuple.Key) int {
	i, _ := slices.BinarySearchFunc(list, a, func(x uint32, a *tuple.Key) int {
		r := &t.rows[x]
		if c := cmp.Compare(t.strs[r.subRel], a.SubjectRel); c != 0 {
			return c
		}
		if c := cmp.Compare(t.strs[r.resType], a.ResourceType); c != 0 {
			return c
		}
		if c := cmp.Compare(t.strs[r.resID], a.ResourceID); c != 0 {
			return c
		}
		if c := cmp.Compare(t.strs[r.rel], a.Relation); c != 0 {
			return c
		}
		return -1 // versions of the cursor's own key come before what follows it
	})
	return i
}
