// Command metrics-server runs sigs.k8s.io/metrics-server's server, as its
// upstream main does (cmd/metrics-server is a main package, so it cannot be
// imported; the tool line in go.mod pins the module and its dependencies).
package main

import (
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/logs"

	"sigs.k8s.io/metrics-server/cmd/metrics-server/app"
)

func main() {
	logs.InitLogs()
	defer logs.FlushLogs()

	cmd := app.NewMetricsServerCommand(genericapiserver.SetupSignalHandler())
	if err := cmd.Execute(); err != nil {
		logs.FlushLogs()
		panic(err)
	}
}
