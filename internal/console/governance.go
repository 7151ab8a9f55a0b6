package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// maxTimeline bounds the audit entries one timeline page shows.
const maxTimeline = 100

// inboxView is the access-request inbox's data.
type inboxView struct {
	// Unavailable explains why there is no inbox (an operator has no acting subject).
	Unavailable string
	Requests    []inboxItem
}

// inboxItem is one request waiting for the signed-in person.
type inboxItem struct {
	ID, Relationship, Requester, Reason, Duration, Created, Expires string
	Approvals                                                       []string
}

// inbox lists the access requests the signed-in person may approve or deny.
func (h *Handler) inbox(w http.ResponseWriter, r *http.Request) {
	h.showInbox(w, r, http.StatusOK, "")
}

func (h *Handler) showInbox(w http.ResponseWriter, r *http.Request, code int, refusal string) {
	s, _ := h.session(r)
	a := h.actorOf(s)
	iv := inboxView{}
	if a.subject == nil {
		iv.Unavailable = "Access requests are approved by the people their policy names, each as themselves; an operator's key has no inbox. Sign in with single sign-on, or use `pemba request approve --as`."
		h.render(w, code, "inbox", s, view{Title: "Access requests", Error: refusal, Data: iv})
		return
	}
	resp, err := h.api.requests.ListInbox(a.ctx(r.Context()), &pb.ListInboxRequest{
		Tenant: a.tenant, Actor: a.actorProto(), PageSize: 100, Consistency: protoconv.FullyConsistent(),
	})
	if err != nil {
		h.fail(w, r, s, statusOf(apiError(err)), apiError(err).Error())
		return
	}
	for _, q := range resp.GetRequests() {
		it := inboxItem{
			ID: q.GetId(), Relationship: relationshipText(q.GetRelationship()), Requester: subjectText(q.GetRequester()),
			Reason: q.GetReason(), Duration: q.GetDuration(),
			Created: stamp(q.GetCreatedAt().AsTime()), Expires: stamp(q.GetExpiresAt().AsTime()),
		}
		for _, ap := range q.GetApprovals() {
			it.Approvals = append(it.Approvals, fmt.Sprintf("%s (party %d): %s", subjectText(ap.GetApprover()), ap.GetParty(), ap.GetReason()))
		}
		iv.Requests = append(iv.Requests, it)
	}
	h.render(w, code, "inbox", s, view{Title: "Access requests", Error: refusal, Data: iv})
}

// decideRequest approves or denies one request, as the signed-in person.
func (h *Handler) decideRequest(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, _ := h.session(r)
		a := h.actorOf(s)
		id := r.PathValue("id")
		reason := strings.TrimSpace(r.PostForm.Get("reason"))
		if len(reason) > maxReasonBytes {
			h.showInbox(w, r, http.StatusBadRequest, fmt.Sprintf("reason: longer than %d bytes", maxReasonBytes))
			return
		}
		if a.subject == nil {
			h.showInbox(w, r, http.StatusForbidden, "an operator's key has no acting subject to decide requests as")
			return
		}
		var err error
		var done string
		if approve {
			var resp *pb.ApproveAccessRequestResponse
			resp, err = h.api.requests.ApproveAccessRequest(a.ctx(r.Context()), &pb.ApproveAccessRequestRequest{
				Tenant: a.tenant, Actor: a.actorProto(), Id: id, Reason: reason, Duration: strings.TrimSpace(r.PostForm.Get("duration")),
			})
			done = fmt.Sprintf("Approved request %s: it is now %s.", id, stateText(resp.GetRequest().GetState()))
		} else {
			_, err = h.api.requests.DenyAccessRequest(a.ctx(r.Context()), &pb.DenyAccessRequestRequest{
				Tenant: a.tenant, Actor: a.actorProto(), Id: id, Reason: reason,
			})
			done = fmt.Sprintf("Denied request %s.", id)
		}
		if err != nil {
			e := apiError(err)
			h.showInbox(w, r, statusOf(e), e.Error())
			return
		}
		h.setFlash(s, done)
		http.Redirect(w, r, Prefix+"/inbox", http.StatusSeeOther)
	}
}

// stateText is a request state in lower case without its prefix ("approved").
func stateText(s pb.AccessRequestState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "ACCESS_REQUEST_STATE_"))
}

// timelineView is an organisation's audit timeline.
type timelineView struct {
	Org, ID string
	Admin   bool
	Entries []timelineEntry
}

// timelineEntry is one audited transaction.
type timelineEntry struct {
	When, Actor, Principal, Operation, Reason, Denied string
	Changes                                           []string
}

// timeline shows the audit trail of an organisation the signed-in identity
// administers: transactions on the organisation and those that acted through it.
func (h *Handler) timeline(w http.ResponseWriter, r *http.Request) {
	s, a, org, ok := h.orgRequest(w, r)
	if !ok {
		return
	}
	var err error
	tv := timelineView{Org: org.String(), ID: org.ID}
	if tv.Admin, err = h.administers(r.Context(), a, org); err != nil {
		h.fail(w, r, s, statusOf(err), err.Error())
		return
	}
	if !tv.Admin {
		h.render(w, http.StatusForbidden, "timeline", s, view{Title: "Audit of " + org.String(), Data: tv})
		return
	}
	seen := map[string]bool{}
	var txs []*pb.Transaction
	for _, req := range []*pb.ReadAuditLogRequest{
		{Tenant: a.tenant, Organization: protoconv.ObjectToProto(org), PageSize: maxTimeline},
		{Tenant: a.tenant, Resource: protoconv.ObjectToProto(org), PageSize: maxTimeline},
	} {
		resp, err := h.api.audit.ReadAuditLog(a.ctx(r.Context()), req)
		if err != nil {
			h.fail(w, r, s, statusOf(apiError(err)), apiError(err).Error())
			return
		}
		for _, tx := range resp.GetTransactions() {
			key := tx.GetToken() + "|" + tx.GetCommittedAt().AsTime().String()
			if !seen[key] {
				seen[key] = true
				txs = append(txs, tx)
			}
		}
	}
	slices.SortStableFunc(txs, func(x, y *pb.Transaction) int {
		return cmp.Compare(y.GetCommittedAt().AsTime().UnixNano(), x.GetCommittedAt().AsTime().UnixNano())
	})
	for _, tx := range txs[:min(len(txs), maxTimeline)] {
		md := tx.GetMetadata()
		e := timelineEntry{
			When: stamp(tx.GetCommittedAt().AsTime()), Principal: md.GetPrincipal(),
			Operation: md.GetOperation(), Reason: md.GetReason(), Denied: md.GetDenied().GetMessage(),
		}
		if md.GetActor() != nil {
			e.Actor = subjectText(md.GetActor())
		}
		for _, c := range tx.GetChanges() {
			e.Changes = append(e.Changes, strings.ToLower(strings.TrimPrefix(c.GetKind().String(), "KIND_"))+" "+relationshipText(c.GetRelationship()))
		}
		tv.Entries = append(tv.Entries, e)
	}
	h.render(w, http.StatusOK, "timeline", s, view{Title: "Audit of " + org.String(), Data: tv})
}

// administers reports whether the actor administers org (an operator administers
// everything).
func (h *Handler) administers(ctx context.Context, a actor, org tuple.ObjectRef) (bool, error) {
	if a.subject == nil {
		return true, nil
	}
	return h.api.check(ctx, a, org, h.cfg.AdminPermission, *a.subject)
}

// offboardView is the offboarding page: the form, and after a preview what would
// be removed and which delegated grants would stop counting.
type offboardView struct {
	Org, ID string
	Admin   bool
	Subject string
	Reason  string
	// Previewed is set once a preview ran; Removed and Ending are its findings.
	Previewed bool
	Removed   []string
	Ending    []string
	// Done is set after the offboarding itself.
	Done bool
}

// offboardPage shows the form, or with ?subject=&reason= a preview (a dry run that
// writes and audits nothing).
func (h *Handler) offboardPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	h.offboard(w, r, strings.TrimSpace(q.Get("subject")), strings.TrimSpace(q.Get("reason")), true)
}

// offboardSubmit offboards for real, as the signed-in identity.
func (h *Handler) offboardSubmit(w http.ResponseWriter, r *http.Request) {
	h.offboard(w, r, strings.TrimSpace(r.PostForm.Get("subject")), strings.TrimSpace(r.PostForm.Get("reason")), false)
}

func (h *Handler) offboard(w http.ResponseWriter, r *http.Request, subjectText, reason string, dryRun bool) {
	s, a, org, ok := h.orgRequest(w, r)
	if !ok {
		return
	}
	var err error
	ov := offboardView{Org: org.String(), ID: org.ID, Subject: truncate(subjectText, 300), Reason: truncate(reason, maxReasonBytes)}
	if ov.Admin, err = h.administers(r.Context(), a, org); err != nil {
		h.fail(w, r, s, statusOf(err), err.Error())
		return
	}
	page := func(code int, refusal string) {
		if !ov.Admin {
			code = max(code, http.StatusForbidden)
		}
		h.render(w, code, "offboard", s, view{Title: "Offboard from " + org.String(), Error: refusal, Data: ov})
	}
	if subjectText == "" {
		if !dryRun {
			page(http.StatusBadRequest, "subject: empty; name who leaves, e.g. user:bob")
			return
		}
		page(http.StatusOK, "")
		return
	}
	if !strings.Contains(subjectText, ":") {
		subjectText = h.cfg.SubjectType + ":" + subjectText
	}
	subject, err := tuple.ParseSubject(subjectText)
	if err != nil {
		page(http.StatusBadRequest, "subject: "+err.Error())
		return
	}
	ov.Subject = subject.String()
	if len(reason) > maxReasonBytes {
		page(http.StatusBadRequest, fmt.Sprintf("reason: longer than %d bytes", maxReasonBytes))
		return
	}
	resp, err := h.api.governance.Offboard(a.ctx(r.Context()), &pb.OffboardRequest{
		Tenant: a.tenant, Subject: protoconv.SubjectToProto(subject), Organization: protoconv.ObjectToProto(org),
		Reason: reason, Actor: a.actorProto(), DryRun: dryRun,
	})
	if err != nil {
		e := apiError(err)
		page(statusOf(e), e.Error())
		return
	}
	for _, rel := range resp.GetRemoved() {
		ov.Removed = append(ov.Removed, relationshipText(rel))
	}
	for _, g := range resp.GetEnding() {
		ov.Ending = append(ov.Ending, relationshipText(g.GetRelationship())+" (rule "+g.GetRule()+")")
	}
	if dryRun {
		ov.Previewed = true
		page(http.StatusOK, "")
		return
	}
	h.setFlash(s, fmt.Sprintf("Offboarded %s from %s: %d relationship(s) removed.", subject, org, len(ov.Removed)))
	http.Redirect(w, r, Prefix+"/orgs/"+org.ID, http.StatusSeeOther)
}

// relationshipText prints a relationship in the text form, with its expiry.
func relationshipText(r *pb.Relationship) string {
	if r == nil {
		return ""
	}
	t := r.GetResource().GetType() + ":" + r.GetResource().GetId() + "#" + r.GetRelation() + "@" + subjectText(r.GetSubject())
	if e := r.GetExpiresAt(); e != nil {
		t += "[expiration:" + e.AsTime().UTC().Format(time.RFC3339) + "]"
	}
	return t
}

// stamp prints a time for the pages, in UTC to the second.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }
