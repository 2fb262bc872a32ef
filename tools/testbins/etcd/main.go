// Command etcd is the etcd server built from the go.etcd.io/etcd/server/v3
// module. The upstream binary lives in the go.etcd.io/etcd/v3 root module,
// whose replace directives make `go install` refuse it; its main() only
// calls etcdmain.Main, which is what this wrapper does too.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
