package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// access is what an RPC requires of the caller's key.
type access int

const (
	// accessPublic: no key needed (health checks, reflection).
	accessPublic access = iota + 1
	// accessRead: any role.
	accessRead
	// accessWrite: admin, or delegate when the request carries an actor.
	accessWrite
	// accessAdmin: admin.
	accessAdmin
	// accessTenantAdmin: admin not limited to some tenants.
	accessTenantAdmin
)

// methodAccess is the authorisation table of the API. A method missing from it is
// refused, so a new RPC cannot be exposed by accident (a test checks the table covers
// every RPC of the v1 services).
var methodAccess = map[string]access{
	pb.PermissionService_Check_FullMethodName:           accessRead,
	pb.PermissionService_CheckBulk_FullMethodName:       accessRead,
	pb.PermissionService_Expand_FullMethodName:          accessRead,
	pb.PermissionService_LookupResources_FullMethodName: accessRead,
	pb.PermissionService_LookupSubjects_FullMethodName:  accessRead,
	pb.PermissionService_ListPermissions_FullMethodName: accessRead,

	pb.RelationshipService_WriteRelationships_FullMethodName:  accessWrite,
	pb.RelationshipService_DeleteRelationships_FullMethodName: accessWrite,
	pb.RelationshipService_ReadRelationships_FullMethodName:   accessRead,
	pb.RelationshipService_ImportRelationships_FullMethodName: accessAdmin,
	pb.RelationshipService_ExportRelationships_FullMethodName: accessRead,

	pb.SchemaService_WriteSchema_FullMethodName: accessAdmin,
	pb.SchemaService_ReadSchema_FullMethodName:  accessRead,

	pb.WatchService_Watch_FullMethodName: accessRead,

	pb.AuditService_ReadAuditLog_FullMethodName:  accessRead,
	pb.AuditService_ReadDecisions_FullMethodName: accessRead,
	// A report reads what ReadAuditLog and ReadDecisions read, in one tenant.
	pb.AuditService_ReadEvidenceReport_FullMethodName: accessRead,
	// Erasure rewrites the audit trail, so only an administrator may ask for it.
	pb.AuditService_EraseSubject_FullMethodName: accessAdmin,

	pb.GovernanceService_Offboard_FullMethodName:        accessWrite,
	pb.GovernanceService_ListActorGrants_FullMethodName: accessRead,
	pb.GovernanceService_ReviewAccess_FullMethodName:    accessRead,
	pb.GovernanceService_WhatIf_FullMethodName:          accessRead,

	pb.TenantService_CreateTenant_FullMethodName: accessTenantAdmin,
	pb.TenantService_ListTenants_FullMethodName:  accessTenantAdmin,
	pb.TenantService_DeleteTenant_FullMethodName: accessTenantAdmin,

	pb.AccessRequestService_CreateAccessRequest_FullMethodName:  accessWrite,
	pb.AccessRequestService_ApproveAccessRequest_FullMethodName: accessWrite,
	pb.AccessRequestService_DenyAccessRequest_FullMethodName:    accessWrite,
	pb.AccessRequestService_CancelAccessRequest_FullMethodName:  accessWrite,
	pb.AccessRequestService_GetAccessRequest_FullMethodName:     accessRead,
	pb.AccessRequestService_ListMyRequests_FullMethodName:       accessRead,
	pb.AccessRequestService_ListInbox_FullMethodName:            accessRead,

	pb.ScimConnectionService_CreateScimConnection_FullMethodName:      accessWrite,
	pb.ScimConnectionService_ListScimConnections_FullMethodName:       accessRead,
	pb.ScimConnectionService_RotateScimConnectionToken_FullMethodName: accessWrite,
	pb.ScimConnectionService_RevokeScimConnection_FullMethodName:      accessWrite,
	pb.ScimConnectionService_SetScimRoleMappings_FullMethodName:       accessWrite,

	// A backup holds every tenant.
	pb.BackupService_Backup_FullMethodName: accessTenantAdmin,
}

// publicServices need no key: load balancers probe health without one, and reflection
// describes an API whose OpenAPI document is public anyway.
var publicServices = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

func accessFor(method string) (access, bool) {
	for _, p := range publicServices {
		if strings.HasPrefix(method, p) {
			return accessPublic, true
		}
	}
	a, ok := methodAccess[method]
	return a, ok
}

// anonymous is the principal of requests on a server without keys.
var anonymous = &Key{Name: "anonymous", Role: RoleAdmin}

// authenticator checks bearer keys.
type authenticator struct {
	keys []Key
}

// authenticate finds the key a request carries. It compares the digest of the
// presented secret with every key in constant time and without stopping early, so
// timing reveals neither a key nor which key matched.
func (a *authenticator) authenticate(ctx context.Context) (*Key, error) {
	if len(a.keys) == 0 {
		return anonymous, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, `missing bearer token: send the header "authorization: Bearer <key>"`)
	}
	scheme, secret, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(secret) == "" {
		return nil, status.Error(codes.Unauthenticated, `malformed authorization header: expected "Bearer <key>"`)
	}
	digest := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	var found *Key
	for i := range a.keys {
		if subtle.ConstantTimeCompare(digest[:], a.keys[i].Digest[:]) == 1 {
			found = &a.keys[i]
		}
	}
	if found == nil {
		return nil, status.Error(codes.Unauthenticated, "invalid bearer token: it matches no preshared key")
	}
	return found, nil
}

// authorizeMethod decides whether a key may call a method at all.
func authorizeMethod(k *Key, method string, a access) error {
	switch a {
	case accessRead, accessWrite:
		return nil // delegate writes are checked per message (actor required)
	case accessAdmin:
		if k.Role == RoleAdmin {
			return nil
		}
		return status.Errorf(codes.PermissionDenied, "key %q has role %s; %s needs an admin key", k.Name, k.Role, shortMethod(method))
	case accessTenantAdmin:
		if k.Role != RoleAdmin {
			return status.Errorf(codes.PermissionDenied, "key %q has role %s; %s needs an admin key", k.Name, k.Role, shortMethod(method))
		}
		if len(k.Tenants) > 0 {
			return status.Errorf(codes.PermissionDenied, "key %q is limited to tenants %s and cannot manage tenants (%s needs an admin key for every tenant)", k.Name, strings.Join(k.Tenants, ","), shortMethod(method))
		}
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "method %s is not part of the API", method)
}

// tenantRequest is every request that names a tenant.
type tenantRequest interface{ GetTenant() string }

// crossTenantRequest is a read that may span tenants (ReadAuditLog with
// all_tenants). Its handler limits the tenants to the key's; the check here refuses
// a named tenant the key lacks, so the caller learns which.
type crossTenantRequest interface {
	GetAllTenants() bool
	GetTenants() []string
}

// actorRequest is every write that may carry an acting subject.
type actorRequest interface{ GetActor() *pb.SubjectReference }

// authorizeMessage checks one request message against the key: the tenant it names
// and, for a delegate's write, that it carries an actor. It records the tenant on info.
func authorizeMessage(k *Key, method string, a access, msg any, info *callInfo) error {
	if a == accessTenantAdmin {
		return nil // tenant names here are the tenants being managed
	}
	if cr, ok := msg.(crossTenantRequest); ok && cr.GetAllTenants() {
		if err := authorizeTenants(k, cr.GetTenants()); err != nil {
			return err
		}
	} else if tr, ok := msg.(tenantRequest); ok {
		t, err := tenantName(tr.GetTenant())
		if err != nil {
			return err
		}
		info.setTenant(t)
		if !k.allowsTenant(t) {
			return status.Errorf(codes.PermissionDenied, "key %q may not use tenant %q (it is limited to %s)", k.Name, t, strings.Join(k.Tenants, ","))
		}
	}
	if a == accessWrite && k.Role != RoleAdmin {
		if k.Role != RoleDelegate {
			return status.Errorf(codes.PermissionDenied, "key %q has role %s and may not write (%s needs an admin key, or a delegate key with an actor)", k.Name, k.Role, shortMethod(method))
		}
		ar, ok := msg.(actorRequest)
		if !ok || ar.GetActor() == nil {
			return status.Errorf(codes.PermissionDenied, "key %q has role delegate and may only write on behalf of an acting subject: set actor in the %s request", k.Name, shortMethod(method))
		}
	}
	return nil
}

// authorizeTenants refuses a cross-tenant request that names tenants the key may not
// use, naming every one of them.
func authorizeTenants(k *Key, tenants []string) error {
	var lacking []string
	for _, t := range tenants {
		if err := tuple.ValidateTenantName(t); err != nil {
			return invalidf("tenants: %v", err)
		}
		if !k.allowsTenant(t) {
			lacking = append(lacking, t)
		}
	}
	if len(lacking) > 0 {
		return status.Errorf(codes.PermissionDenied, "key %q may not use tenants %s (it is limited to %s)", k.Name, strings.Join(lacking, ","), strings.Join(k.Tenants, ","))
	}
	return nil
}

// principalKey is the context key of the authenticated key.
type principalKey struct{}

// principalFrom returns the key a request was authenticated with.
func principalFrom(ctx context.Context) *Key {
	if k, ok := ctx.Value(principalKey{}).(*Key); ok {
		return k
	}
	return anonymous
}

func (a *authenticator) unary(ctx context.Context, req any, si *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	acc, known := accessFor(si.FullMethod)
	if acc == accessPublic {
		return handler(ctx, req)
	}
	k, err := a.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	info := callInfoFrom(ctx)
	info.setPrincipal(k.Name)
	if !known {
		return nil, status.Errorf(codes.PermissionDenied, "method %s is not part of the API", si.FullMethod)
	}
	if err := authorizeMethod(k, si.FullMethod, acc); err != nil {
		return nil, err
	}
	if err := authorizeMessage(k, si.FullMethod, acc, req, info); err != nil {
		return nil, err
	}
	return handler(context.WithValue(ctx, principalKey{}, k), req)
}

func (a *authenticator) stream(srv any, ss grpc.ServerStream, si *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	acc, known := accessFor(si.FullMethod)
	if acc == accessPublic {
		return handler(srv, ss)
	}
	ctx := ss.Context()
	k, err := a.authenticate(ctx)
	if err != nil {
		return err
	}
	info := callInfoFrom(ctx)
	info.setPrincipal(k.Name)
	if !known {
		return status.Errorf(codes.PermissionDenied, "method %s is not part of the API", si.FullMethod)
	}
	if err := authorizeMethod(k, si.FullMethod, acc); err != nil {
		return err
	}
	return handler(srv, &authorizedStream{
		ServerStream: ss,
		ctx:          context.WithValue(ctx, principalKey{}, k),
		check: func(m any) error {
			return authorizeMessage(k, si.FullMethod, acc, m, info)
		},
	})
}

// authorizedStream checks every message a client sends on a stream.
type authorizedStream struct {
	grpc.ServerStream
	ctx   context.Context
	check func(any) error
}

func (s *authorizedStream) Context() context.Context { return s.ctx }

func (s *authorizedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.check(m)
}

// shortMethod turns "/pemba.v1.RelationshipService/WriteRelationships" into
// "WriteRelationships".
func shortMethod(full string) string {
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[i+1:]
	}
	return full
}
