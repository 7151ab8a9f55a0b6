package server

import (
	"context"

	"github.com/pemba-authz/pemba/internal/scim"
	"github.com/pemba-authz/pemba/internal/write"
)

// scimBasePath is where the SCIM 2.0 endpoints live on the HTTP port.
const scimBasePath = "/scim/v2"

// scimWriter is what SCIM needs of the write path; *write.Writer implements it.
type scimWriter interface {
	CreateScimConnection(ctx context.Context, req write.Request, in write.NewScimConnection) (scim.Connection, string, error)
	ListScimConnections(ctx context.Context, tenant string) ([]scim.Connection, error)
	RotateScimConnection(ctx context.Context, req write.Request, name string) (scim.Connection, string, error)
	RevokeScimConnection(ctx context.Context, req write.Request, name string) (scim.Connection, error)
	SetScimRoleMappings(ctx context.Context, req write.Request, name string, ms []scim.RoleMapping) (scim.Connection, error)
	ScimConnectionByToken(ctx context.Context, token string) (string, scim.Connection, error)
}
