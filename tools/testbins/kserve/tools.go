//go:build tools

// Package tools pins KServe's controller-manager, built from the
// github.com/kserve/kserve module (see build.sh). Never compiled on its own.
package tools

import (
	_ "github.com/kserve/kserve/cmd/manager"
)
