//go:build tools

// Package tools pins the Kubernetes control-plane commands built from the
// k8s.io/kubernetes module (see build.sh). Never compiled on its own.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
