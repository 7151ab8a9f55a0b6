package cli

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// byteQuantity is a flag of a size in bytes written as Kubernetes writes memory: a plain
// number of bytes (what the downward API's resourceFieldRef gives), or one with a
// suffix (512Mi, 2Gi, 1G). It fills an int64.
type byteQuantity struct{ n *int64 }

func (q byteQuantity) String() string {
	if q.n == nil || *q.n == 0 {
		return "0"
	}
	return resource.NewQuantity(*q.n, resource.BinarySI).String()
}

func (q byteQuantity) Set(s string) error {
	v, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("%q is not a size: give bytes (2147483648) or a size with a unit (512Mi, 2Gi)", s)
	}
	n, ok := v.AsInt64()
	if !ok || n < 0 {
		return fmt.Errorf("%q is not a whole, non-negative number of bytes", s)
	}
	*q.n = n
	return nil
}

func (q byteQuantity) Type() string { return "size" }
