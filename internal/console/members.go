package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// defaultReason is recorded when a form leaves the reason empty.
const defaultReason = "web console"

// maxReasonBytes bounds the reason a form may give (the audit trail keeps it).
const maxReasonBytes = 1000

// The console does not decide whether a write is allowed: it sends the write to the
// API on behalf of the signed-in subject and shows the API's answer. The forms only
// offer what the grant rules allow; a tampered form reaches the same refusal.

// addMember grants a role on the organisation: a create, with the optional expiry.
func (h *Handler) addMember(w http.ResponseWriter, r *http.Request) {
	h.mutate(w, r, func(org tuple.ObjectRef, f formValues) ([]*pb.RelationshipUpdate, string, error) {
		rel, err := f.relationship(h, org, "relation", "expires")
		if err != nil {
			return nil, "", err
		}
		return []*pb.RelationshipUpdate{{Operation: pb.RelationshipUpdate_OPERATION_CREATE, Relationship: rel}},
			fmt.Sprintf("Granted %s to %s.", rel.GetRelation(), subjectText(rel.GetSubject())), nil
	})
}

// removeMember revokes one role.
func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request) {
	h.mutate(w, r, func(org tuple.ObjectRef, f formValues) ([]*pb.RelationshipUpdate, string, error) {
		rel, err := f.relationship(h, org, "relation", "")
		if err != nil {
			return nil, "", err
		}
		return []*pb.RelationshipUpdate{{Operation: pb.RelationshipUpdate_OPERATION_DELETE, Relationship: rel}},
			fmt.Sprintf("Removed %s from %s.", rel.GetRelation(), subjectText(rel.GetSubject())), nil
	})
}

// changeRole replaces one role with another (or the same one with a new expiry) in
// one transaction, so the member never holds both or neither.
func (h *Handler) changeRole(w http.ResponseWriter, r *http.Request) {
	h.mutate(w, r, func(org tuple.ObjectRef, f formValues) ([]*pb.RelationshipUpdate, string, error) {
		old, err := f.relationship(h, org, "relation", "")
		if err != nil {
			return nil, "", err
		}
		next, err := f.relationship(h, org, "new_relation", "expires")
		if err != nil {
			return nil, "", err
		}
		touch := &pb.RelationshipUpdate{Operation: pb.RelationshipUpdate_OPERATION_TOUCH, Relationship: next}
		if old.GetRelation() == next.GetRelation() {
			return []*pb.RelationshipUpdate{touch}, fmt.Sprintf("Updated %s of %s.", next.GetRelation(), subjectText(next.GetSubject())), nil
		}
		return []*pb.RelationshipUpdate{{Operation: pb.RelationshipUpdate_OPERATION_DELETE, Relationship: old}, touch},
			fmt.Sprintf("Changed %s from %s to %s.", subjectText(next.GetSubject()), old.GetRelation(), next.GetRelation()), nil
	})
}

// mutate runs one form's write: it reads the form, writes on behalf of the actor,
// and on success goes back to the organisation page with a message; on a refusal it
// shows the page with the API's words and the form as it was sent.
func (h *Handler) mutate(w http.ResponseWriter, r *http.Request, build func(tuple.ObjectRef, formValues) ([]*pb.RelationshipUpdate, string, error)) {
	s, _ := h.session(r)
	org, err := h.orgFromPath(r)
	if err != nil {
		h.fail(w, r, s, http.StatusBadRequest, err.Error())
		return
	}
	f := formValues{r: r}
	updates, done, err := build(org, f)
	if err != nil {
		h.showOrg(w, r, http.StatusBadRequest, err.Error(), f.echo())
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if len(reason) > maxReasonBytes {
		h.showOrg(w, r, http.StatusBadRequest, fmt.Sprintf("reason: longer than %d bytes", maxReasonBytes), f.echo())
		return
	}
	if reason == "" {
		reason = defaultReason
	}
	if err := h.api.write(r.Context(), h.actorOf(s), reason, updates...); err != nil {
		h.showOrg(w, r, statusOf(err), err.Error(), f.echo())
		return
	}
	h.setFlash(s, done)
	http.Redirect(w, r, Prefix+"/orgs/"+org.ID, http.StatusSeeOther)
}

// formValues reads a member form.
type formValues struct{ r *http.Request }

func (f formValues) get(name string) string { return strings.TrimSpace(f.r.PostForm.Get(name)) }

// echo is the form as sent, for the page that shows its refusal.
func (f formValues) echo() map[string]string {
	out := map[string]string{}
	for _, k := range []string{"subject", "relation", "new_relation", "expires", "reason"} {
		out[k] = truncate(f.get(k), 1000)
	}
	return out
}

// relationship builds the relationship a form names on org: the relation from the
// field relField, the subject (a bare id takes the console's subject type), and the
// expiry from expField when that is given.
func (f formValues) relationship(h *Handler, org tuple.ObjectRef, relField, expField string) (*pb.Relationship, error) {
	relation := f.get(relField)
	if err := tuple.ValidateRelationName(relField, relation); err != nil {
		return nil, err
	}
	text := f.get("subject")
	if text == "" {
		return nil, fmt.Errorf("subject: empty; name a person, e.g. %s:alice", h.cfg.SubjectType)
	}
	if !strings.Contains(text, ":") {
		text = h.cfg.SubjectType + ":" + text
	}
	subject, err := tuple.ParseSubject(text)
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	rel := &pb.Relationship{Resource: protoconv.ObjectToProto(org), Relation: relation, Subject: protoconv.SubjectToProto(subject)}
	if expField != "" {
		if v := f.get(expField); v != "" {
			t, err := parseExpiry(v)
			if err != nil {
				return nil, err
			}
			rel.ExpiresAt = timestamppb.New(t)
		}
	}
	return rel, nil
}

// parseExpiry reads an expiry: a datetime-local value (taken as UTC, as the form
// says), a date, or RFC 3339.
func parseExpiry(v string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			// A protobuf timestamp holds years 1 to 9999; the API refuses a past
			// expiry anyway, so nothing before 1970 is worth sending.
			if t.Year() < 1970 || t.UTC().Year() > 9999 {
				return time.Time{}, fmt.Errorf("expires: %q is outside the years 1970 to 9999", truncate(v, 100))
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("expires: %q is not a date and time (YYYY-MM-DDTHH:MM, UTC)", truncate(v, 100))
}
