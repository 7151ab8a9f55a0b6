package server

import (
	"net/http"
	"strings"

	"github.com/pemba-authz/pemba/internal/scim"
)

func (c *scimCall) serviceProviderConfig() error {
	c.reply(http.StatusOK, scim.ServiceProviderConfig(c.base, scimMaxOps, scimMaxPage))
	return nil
}

func (c *scimCall) resourceTypes() error {
	docs := []any{scim.Users.ResourceTypeDoc(c.base), scim.Groups.ResourceTypeDoc(c.base)}
	c.reply(http.StatusOK, map[string]any{"schemas": []string{scim.ListResponseSchema}, "totalResults": len(docs),
		"startIndex": 1, "itemsPerPage": len(docs), "Resources": docs})
	return nil
}

func (c *scimCall) resourceType() error {
	for _, rt := range []*scim.ResourceType{scim.Users, scim.Groups} {
		if strings.EqualFold(rt.Name, c.r.PathValue("name")) {
			c.reply(http.StatusOK, rt.ResourceTypeDoc(c.base))
			return nil
		}
	}
	return scim.Errorf(http.StatusNotFound, "", "no resource type %q (there are User and Group)", c.r.PathValue("name"))
}

func (c *scimCall) schemas() error {
	docs := scim.SchemaDocs(c.base)
	list := make([]any, len(docs))
	for i, d := range docs {
		list[i] = d
	}
	c.reply(http.StatusOK, map[string]any{"schemas": []string{scim.ListResponseSchema}, "totalResults": len(list),
		"startIndex": 1, "itemsPerPage": len(list), "Resources": list})
	return nil
}

func (c *scimCall) schema() error {
	for _, d := range scim.SchemaDocs(c.base) {
		if strings.EqualFold(d["id"].(string), c.r.PathValue("id")) {
			c.reply(http.StatusOK, d)
			return nil
		}
	}
	return scim.Errorf(http.StatusNotFound, "", "no schema %q", c.r.PathValue("id"))
}
