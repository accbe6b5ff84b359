//go:build tools

// Package tools pins the programs scripts/k8s-build builds, so that go.mod and go.sum
// record their exact versions. It is never compiled.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
