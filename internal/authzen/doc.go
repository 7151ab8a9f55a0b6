// Package authzen serves the OpenID AuthZEN Authorization API 1.0 on Pemba's HTTP
// port: access evaluation, access evaluations (boxcarred, with default values and the
// three evaluation semantics), subject, resource and action search with pagination,
// and the PDP metadata document.
//
// Each endpoint is a translation onto the v1 gRPC API, called through the server's
// in-process connection: evaluation → Check, evaluations → CheckBulk, subject search →
// LookupSubjects, resource search → LookupResources, action search → ListPermissions.
// A request therefore passes the same authentication, tenant authorisation, limits,
// quotas, metrics, decision log and tracing as the rest of the API.
//
// The mapping of the information model:
//   - subject {type, id} is the subject object type:id; subject.properties.relation,
//     when given, makes it the subject set type:id#relation;
//   - resource {type, id} is the resource object type:id;
//   - action.name is the permission (or relation) checked;
//   - context, and the properties of subject, resource and action (relation aside),
//     form one caveat context; a key given twice with different values is refused.
//
// A decision is true only when the answer is allowed. A conditional answer (a caveat
// that needs context the request did not carry) is false, with the missing parameter
// names in the decision's context: AuthZEN decisions fail closed.
package authzen
