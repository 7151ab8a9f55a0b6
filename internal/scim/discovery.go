package scim

import "strings"

// ServiceProviderConfig is the document of RFC 7643 §5: what Pemba supports. Bulk,
// sorting and password changes are declared unsupported and answered 501.
func ServiceProviderConfig(baseURL string, maxOps, maxResults int) Resource {
	return Resource{
		"schemas":          []any{ServiceProviderConfigSchema},
		"documentationUri": "https://github.com/pemba-authz/pemba/blob/main/docs/scim.md",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": "Bearer token", "primary": true,
			"description": "The SCIM connection's token, shown once by `pemba scim connection create`.",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": baseURL + "/ServiceProviderConfig"},
	}
}

// ResourceTypeDoc is a resource type's document (RFC 7643 §6).
func (rt *ResourceType) ResourceTypeDoc(baseURL string) Resource {
	d := Resource{
		"schemas": []any{ResourceTypeSchema}, "id": rt.Name, "name": rt.Name, "endpoint": rt.Endpoint,
		"schema": rt.Schema, "meta": map[string]any{"resourceType": "ResourceType", "location": baseURL + "/ResourceTypes/" + rt.Name},
	}
	var exts []any
	for u := range rt.Extensions {
		exts = append(exts, map[string]any{"schema": u, "required": false})
	}
	if exts != nil {
		d["schemaExtensions"] = exts
	}
	return d
}

// SchemaDocs are the Schemas endpoint's documents (RFC 7643 §7).
func SchemaDocs(baseURL string) []Resource {
	doc := func(id, name string, attrs []Attr) Resource {
		return Resource{"schemas": []any{SchemaSchema}, "id": id, "name": name, "attributes": attrDocs(attrs),
			"meta": map[string]any{"resourceType": "Schema", "location": baseURL + "/Schemas/" + id}}
	}
	return []Resource{
		doc(UserSchema, "User", userAttrs),
		doc(GroupSchema, "Group", groupAttrs),
		doc(EnterpriseUserSchema, "EnterpriseUser", enterpriseAttrs),
	}
}

func attrDocs(attrs []Attr) []any {
	out := make([]any, 0, len(attrs))
	for _, a := range attrs {
		d := map[string]any{"name": a.Name, "type": a.Type, "multiValued": a.Multi, "required": a.Required,
			"caseExact": a.CaseExact, "mutability": or(a.Mutability, "readWrite"), "returned": or(a.Returned, "default"),
			"uniqueness": or(a.Uniqueness, "none")}
		if strings.EqualFold(a.Name, "userName") {
			d["uniqueness"] = "server"
		}
		if len(a.Sub) > 0 {
			d["subAttributes"] = attrDocs(a.Sub)
		}
		out = append(out, d)
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
