package scim

import "strings"

// Schema URNs of RFC 7643 and RFC 7644.
const (
	UserSchema                  = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema                 = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseUserSchema        = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ListResponseSchema          = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpSchema               = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	ServiceProviderConfigSchema = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ResourceTypeSchema          = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema                = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Attr describes one attribute (RFC 7643 §7), for canonical names, type coercion,
// filter case sensitivity and the Schemas endpoint.
type Attr struct {
	Name       string
	Type       string // string, boolean, complex, reference, dateTime
	Multi      bool
	Required   bool
	CaseExact  bool
	Mutability string // readWrite (default), readOnly, immutable, writeOnly
	Returned   string // default (default), always, never
	Uniqueness string // none (default), server
	Sub        []Attr
}

func str(name string) Attr     { return Attr{Name: name, Type: "string"} }
func boolean(name string) Attr { return Attr{Name: name, Type: "boolean"} }

func multi(name string, sub ...Attr) Attr {
	return Attr{Name: name, Type: "complex", Multi: true, Sub: sub}
}

var typedValue = []Attr{str("value"), str("display"), str("type"), boolean("primary")}

// userAttrs are the core User attributes Pemba keeps.
var userAttrs = []Attr{
	{Name: "id", Type: "string", CaseExact: true, Mutability: "readOnly", Returned: "always", Uniqueness: "server"},
	{Name: "externalId", Type: "string", CaseExact: true},
	{Name: "userName", Type: "string", Required: true, Uniqueness: "server"},
	{Name: "name", Type: "complex", Sub: []Attr{str("formatted"), str("familyName"), str("givenName"), str("middleName"), str("honorificPrefix"), str("honorificSuffix")}},
	str("displayName"), str("nickName"), str("profileUrl"), str("title"), str("userType"),
	str("preferredLanguage"), str("locale"), str("timezone"),
	boolean("active"),
	{Name: "password", Type: "string", Mutability: "writeOnly", Returned: "never"},
	multi("emails", typedValue...),
	multi("phoneNumbers", typedValue...),
	multi("addresses", str("formatted"), str("streetAddress"), str("locality"), str("region"), str("postalCode"), str("country"), str("type"), boolean("primary")),
	{Name: "groups", Type: "complex", Multi: true, Mutability: "readOnly", Sub: []Attr{str("value"), str("$ref"), str("display"), str("type")}},
	multi("roles", typedValue...),
	multi("entitlements", typedValue...),
}

// enterpriseAttrs are the enterprise User extension's attributes.
var enterpriseAttrs = []Attr{
	str("employeeNumber"), str("costCenter"), str("organization"), str("division"), str("department"),
	{Name: "manager", Type: "complex", Sub: []Attr{str("value"), str("$ref"), str("displayName")}},
}

// groupAttrs are the core Group attributes.
var groupAttrs = []Attr{
	{Name: "id", Type: "string", CaseExact: true, Mutability: "readOnly", Returned: "always", Uniqueness: "server"},
	{Name: "externalId", Type: "string", CaseExact: true},
	{Name: "displayName", Type: "string", Required: true},
	multi("members", Attr{Name: "value", Type: "string", CaseExact: true, Mutability: "immutable"}, str("$ref"), str("display"), str("type")),
}

// ResourceType is Users or Groups.
type ResourceType struct {
	Name       string // "User"
	Endpoint   string // "/Users"
	Schema     string
	Attrs      []Attr
	Extensions map[string][]Attr
}

// Users and Groups are the resource types Pemba serves.
var (
	Users  = &ResourceType{Name: "User", Endpoint: "/Users", Schema: UserSchema, Attrs: userAttrs, Extensions: map[string][]Attr{EnterpriseUserSchema: enterpriseAttrs}}
	Groups = &ResourceType{Name: "Group", Endpoint: "/Groups", Schema: GroupSchema, Attrs: groupAttrs}
)

// find returns the attribute named name (case-insensitively) among attrs.
func find(attrs []Attr, name string) *Attr {
	for i := range attrs {
		if strings.EqualFold(attrs[i].Name, name) {
			return &attrs[i]
		}
	}
	return nil
}

// extension returns the extension URN uri names (case-insensitively), or "".
func (rt *ResourceType) extension(uri string) string {
	for u := range rt.Extensions {
		if strings.EqualFold(u, uri) {
			return u
		}
	}
	return ""
}

// Lookup returns the attribute a path names: uri (a schema URN or ""), name and sub.
func (rt *ResourceType) Lookup(uri, name, sub string) *Attr {
	attrs := rt.Attrs
	if uri != "" && !strings.EqualFold(uri, rt.Schema) {
		ext := rt.extension(uri)
		if ext == "" {
			return nil
		}
		attrs = rt.Extensions[ext]
	}
	a := find(attrs, name)
	if a == nil || sub == "" {
		return a
	}
	return find(a.Sub, sub)
}

// CaseExact reports whether a filter on the path compares strings case-sensitively.
func (rt *ResourceType) CaseExact(uri, name, sub string) bool {
	if strings.EqualFold(name, "meta") {
		return false
	}
	a := rt.Lookup(uri, name, sub)
	return a != nil && a.CaseExact
}
