package dataset

import (
	"fmt"
	"strconv"
	"strings"
)

// Object types and relations of the reference schema used by the datasets.
const (
	TypeUser         = "user"
	TypeBrand        = "brand"
	TypeOrganization = "organization"
	TypeGroup        = "group"
	TypeProject      = "project"
	TypeDocument     = "document"

	// CaveatWithinNetwork is the caveat on some partner grants.
	CaveatWithinNetwork = "within_network"
)

// Org is one organisation: tree T, level L (0 is the root), index X on its level.
type Org struct{ T, L, X int }

// User is a user whose home is Org, the J-th of its users. Staff users have Staff set
// and J their operator index.
type User struct {
	Org   Org
	J     int
	Staff bool
}

// Project is the P-th project owned by Org.
type Project struct {
	Org Org
	P   int
}

// Doc is the D-th document of Project.
type Doc struct {
	Project Project
	D       int
}

// Group is node X of group tree H of tree T; node 0 is the tree's top group and node x
// sits inside node (x-1)/GroupFanOut.
type Group struct{ T, H, X int }

// Ids are short (they dominate the bytes per stored relationship) and carry their
// coordinates, so the oracle can read them back.

// ID returns the organisation's object id, "t<tree>-<level>-<index>".
func (o Org) ID() string { return string(o.appendID(nil)) }

func (o Org) appendID(b []byte) []byte {
	b = append(b, 't')
	b = strconv.AppendInt(b, int64(o.T), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(o.L), 10)
	b = append(b, '-')
	return strconv.AppendInt(b, int64(o.X), 10)
}

// ID returns the user's object id: "<org id>-<j>", or "staff<j>" for staff.
func (u User) ID() string {
	if u.Staff {
		return "staff" + strconv.Itoa(u.J)
	}
	b := u.Org.appendID(make([]byte, 0, 24))
	b = append(b, '-')
	return string(strconv.AppendInt(b, int64(u.J), 10))
}

// ID returns the project's object id, "<org id>-<p>".
func (p Project) ID() string { return string(p.appendID(make([]byte, 0, 24))) }

func (p Project) appendID(b []byte) []byte {
	b = p.Org.appendID(b)
	b = append(b, '-')
	return strconv.AppendInt(b, int64(p.P), 10)
}

// ID returns the document's object id, "<project id>-<d>".
func (d Doc) ID() string {
	b := d.Project.appendID(make([]byte, 0, 28))
	b = append(b, '-')
	return string(strconv.AppendInt(b, int64(d.D), 10))
}

// ID returns the group's object id, "t<tree>-g<group tree>-<node>".
func (g Group) ID() string {
	b := make([]byte, 0, 20)
	b = append(b, 't')
	b = strconv.AppendInt(b, int64(g.T), 10)
	b = append(b, '-', 'g')
	b = strconv.AppendInt(b, int64(g.H), 10)
	b = append(b, '-')
	return string(strconv.AppendInt(b, int64(g.X), 10))
}

// BrandID returns brand b's object id.
func BrandID(b int) string { return "b" + strconv.Itoa(b) }

// parseCoords reads "t<a>-<b>-<c>..." into n numbers.
func parseCoords(id string, n int) ([]int, error) {
	rest, ok := strings.CutPrefix(id, "t")
	if !ok {
		return nil, fmt.Errorf("id %q does not start with t", id)
	}
	parts := strings.Split(rest, "-")
	if len(parts) != n {
		return nil, fmt.Errorf("id %q has %d parts, want %d", id, len(parts), n)
	}
	out := make([]int, n)
	for i, s := range parts {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("id %q: part %q is not a number", id, s)
		}
		out[i] = v
	}
	return out, nil
}

// ParseOrg reads an organisation id.
func ParseOrg(id string) (Org, error) {
	c, err := parseCoords(id, 3)
	if err != nil {
		return Org{}, err
	}
	return Org{c[0], c[1], c[2]}, nil
}

// ParseUser reads a user id (staff ids included).
func ParseUser(id string) (User, error) {
	if s, ok := strings.CutPrefix(id, "staff"); ok {
		j, err := strconv.Atoi(s)
		if err != nil || j < 0 {
			return User{}, fmt.Errorf("staff id %q has no number", id)
		}
		return User{J: j, Staff: true}, nil
	}
	c, err := parseCoords(id, 4)
	if err != nil {
		return User{}, err
	}
	return User{Org: Org{c[0], c[1], c[2]}, J: c[3]}, nil
}

// ParseProject reads a project id.
func ParseProject(id string) (Project, error) {
	c, err := parseCoords(id, 4)
	if err != nil {
		return Project{}, err
	}
	return Project{Org{c[0], c[1], c[2]}, c[3]}, nil
}

// ParseDoc reads a document id.
func ParseDoc(id string) (Doc, error) {
	c, err := parseCoords(id, 5)
	if err != nil {
		return Doc{}, err
	}
	return Doc{Project{Org{c[0], c[1], c[2]}, c[3]}, c[4]}, nil
}

// ParseGroup reads a group id.
func ParseGroup(id string) (Group, error) {
	rest, ok := strings.CutPrefix(id, "t")
	if !ok {
		return Group{}, fmt.Errorf("group id %q does not start with t", id)
	}
	var g Group
	if _, err := fmt.Sscanf(rest, "%d-g%d-%d", &g.T, &g.H, &g.X); err != nil || g.ID() != id {
		return Group{}, fmt.Errorf("group id %q is not t<tree>-g<group tree>-<node>", id)
	}
	return g, nil
}
