//go:build tools

// Package tools pins Knative Serving's controller, webhook and autoscaler,
// built from the knative.dev/serving module (see build.sh). Never compiled
// on its own.
package tools

import (
	_ "knative.dev/serving/cmd/autoscaler"
	_ "knative.dev/serving/cmd/controller"
	_ "knative.dev/serving/cmd/webhook"
)
