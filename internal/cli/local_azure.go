package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/providers/traffic/azuredns"
	fd "upshift.dev/upshift/internal/providers/traffic/frontdoor"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	tm "upshift.dev/upshift/internal/providers/traffic/trafficmanager"
)

type localAzureOptions struct {
	*localOptions
	listen, subscription, gateway, tokenFile string
	token                                    string
}

func newLocalAzureCommand(parent *localOptions) *cobra.Command {
	o := &localAzureOptions{localOptions: parent}
	cmd := &cobra.Command{
		Use:   "azure [--listen 127.0.0.1:PORT] [--subscription ID] [--gateway ADMIN_URL --token-file F]",
		Short: "Serve an Azure Resource Manager emulator for AKS and Traffic Manager, backed by the local fleet and the gateway",
		Long: `Serve the part of Azure Resource Manager the aks provider speaks
(Microsoft.ContainerService managedClusters and agentPools, api-version
` + azureemu.APIVersion + `) on loopback, backed by the local fleet: every local cluster is a
managed cluster of resource group ` + azureemu.AdoptGroup + `, a created managed cluster is a new
local cluster, and upgrades really upgrade it. Each cluster's ingress
address is in its LoadBalancer Service ` + azureemu.IngressService + `, as
with AKS's application routing add-on.

It also serves Azure DNS zones (A and CNAME record sets, api-version
` + azuredns.APIVersion + `, stored only), Traffic Manager profiles with external
endpoints (api-version ` + tm.APIVersion + `), and Front Door profiles with their
origin groups and origins (Microsoft.Cdn, api-version ` + fd.APIVersion + `). With
--gateway, each Traffic Manager profile's DNS name (NAME.trafficmanager.net)
and each Front Door origin group G (G.azurefd.net) is a route of that
upshift gateway, standing for the resolvers or the edge users go through: a
switch of the endpoints or origins is what users of the gateway see.

Point a fleet file's aks cluster at it with spec.aks.armEndpoint. It accepts
any bearer token, so it listens on loopback only. It is not Azure:
docs/providers.md says what was tested against it only, and what against
Azure's published REST specs.`,
		Example: `  upshift local azure --listen 127.0.0.1:8443
  # fleet.yaml: spec: {provider: aks, aks: {subscriptionID: ` + azureemu.DefaultSubscription + `,
  #                     resourceGroup: ` + azureemu.AdoptGroup + `, name: prod, armEndpoint: http://127.0.0.1:8443}}`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8443", "loopback address to serve on")
	cmd.Flags().StringVar(&o.subscription, "subscription", azureemu.DefaultSubscription, "the one subscription that exists")
	cmd.Flags().StringVar(&o.gateway, "gateway", "", "admin URL of an upshift gateway that serves each Traffic Manager profile's DNS name")
	cmd.Flags().StringVar(&o.tokenFile, "token-file", "", "file holding that gateway's admin token (default $UPSHIFT_GATEWAY_TOKEN)")
	return cmd
}

func (o *localAzureOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *localAzureOptions) Validate() error {
	if err := azureemu.CheckLoopback(o.listen); err != nil {
		return usageError{Err: err}
	}
	if o.gateway != "" {
		token, err := readToken(o.tokenFile)
		if err != nil {
			return usageError{Err: err}
		}
		o.token = token
	}
	return nil
}

func (o *localAzureOptions) Run(ctx context.Context) error {
	lf, err := o.localFleet()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageError{Err: err}
	}
	emu := azureemu.New(lf, o.subscription)
	emu.Log = o.streams.Err
	if o.gateway != "" {
		emu.Gateway = trafficgateway.New(o.gateway, o.token)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	o.printer.Success("Azure emulator on http://%s (subscription %s, resource group %s holds the local fleet); it accepts any bearer token, on loopback only", ln.Addr(), emu.Subscription, azureemu.AdoptGroup)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	err = srv.Serve(ln)
	emu.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serving the Azure emulator: %w", err)
}
