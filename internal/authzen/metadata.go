package authzen

import (
	"net/http"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// metadataDocument is the PDP metadata of one tenant's endpoints.
type metadataDocument struct {
	PolicyDecisionPoint       string `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string `json:"access_evaluations_endpoint"`
	SearchSubjectEndpoint     string `json:"search_subject_endpoint"`
	SearchResourceEndpoint    string `json:"search_resource_endpoint"`
	SearchActionEndpoint      string `json:"search_action_endpoint"`
}

// metadata serves /.well-known/authzen-configuration (the default tenant's PDP) and
// /.well-known/authzen-configuration/TENANT (the PDP at /TENANT). It needs no key:
// it names endpoints, never data, and says nothing about whether a tenant exists.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	base := h.opts.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	if tenant := r.PathValue("tenant"); tenant != "" {
		if err := tuple.ValidateTenantName(tenant); err != nil {
			writeError(w, http.StatusNotFound, "no AuthZEN metadata at "+r.URL.Path+": "+err.Error())
			return
		}
		base += "/" + tenant
	}
	writeJSON(w, http.StatusOK, metadataDocument{
		PolicyDecisionPoint:       base,
		AccessEvaluationEndpoint:  base + PathEvaluation,
		AccessEvaluationsEndpoint: base + PathEvaluations,
		SearchSubjectEndpoint:     base + PathSearchSubject,
		SearchResourceEndpoint:    base + PathSearchResource,
		SearchActionEndpoint:      base + PathSearchAction,
	})
}
