package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pemba-authz/pemba/client"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

const exampleSchema = `
definition user {}

definition document {
	relation viewer: user
	permission view = viewer
}`

// Connect, publish a schema, grant, and check with the token of the grant, so the
// check is sure to see it.
func Example() {
	ctx := context.Background()
	c, err := client.New(addr, client.WithInsecure(), client.WithKey(key))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if _, err := c.Schemas.WriteSchema(ctx, &pb.WriteSchemaRequest{Schema: exampleSchema}); err != nil {
		log.Fatal(err)
	}
	w, err := c.Relationships.WriteRelationships(ctx, &pb.WriteRelationshipsRequest{
		Updates: []*pb.RelationshipUpdate{{
			Operation: pb.RelationshipUpdate_OPERATION_TOUCH,
			Relationship: &pb.Relationship{
				Resource: &pb.ObjectReference{Type: "document", Id: "plan"},
				Relation: "viewer",
				Subject:  &pb.SubjectReference{Type: "user", Id: "ann"},
			},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Store client.Token(w) next to the document; send it with its checks.
	resp, err := c.Permissions.Check(ctx, &pb.CheckRequest{
		Consistency: client.AtLeastAsFresh(client.Token(w)),
		Resource:    &pb.ObjectReference{Type: "document", Id: "plan"},
		Permission:  "view",
		Subject:     &pb.SubjectReference{Type: "user", Id: "ann"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetPermissionship())
	// Output: PERMISSIONSHIP_ALLOWED
}

// WithToken carries a stored token through a context: every read sent with that
// context that names no consistency of its own reads at least as fresh as the token.
func ExampleWithToken() {
	c, err := client.New(addr, client.WithInsecure(), client.WithKey(key))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Schemas.WriteSchema(ctx, &pb.WriteSchemaRequest{Schema: exampleSchema}); err != nil {
		log.Fatal(err)
	}
	w, err := c.Relationships.WriteRelationships(ctx, &pb.WriteRelationshipsRequest{
		Updates: []*pb.RelationshipUpdate{{
			Operation: pb.RelationshipUpdate_OPERATION_TOUCH,
			Relationship: &pb.Relationship{
				Resource: &pb.ObjectReference{Type: "document", Id: "notes"},
				Relation: "viewer",
				Subject:  &pb.SubjectReference{Type: "user", Id: "bo"},
			},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Later, in the request that serves the document, with its stored token:
	ctx = client.WithToken(ctx, w.GetToken())
	stream, err := c.Permissions.LookupResources(ctx, &pb.LookupResourcesRequest{
		ResourceType: "document",
		Permission:   "view",
		Subject:      &pb.SubjectReference{Type: "user", Id: "bo"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for {
		r, err := stream.Recv()
		if err != nil {
			break
		}
		fmt.Println(r.GetResourceId())
	}
	// Output: notes
}
