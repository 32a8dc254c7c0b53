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
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	tm "upshift.dev/upshift/internal/providers/traffic/trafficmanager"
)

func newLocalAzureCommand(o *localOptions) *cobra.Command {
	var listen, subscription, gateway, tokenFile string
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
` + azuredns.APIVersion + `, stored only) and Traffic Manager profiles with external
endpoints (api-version ` + tm.APIVersion + `). With --gateway, each profile's DNS
name (NAME.trafficmanager.net) is a route of that upshift gateway, standing
for the resolvers users go through: a switch of the profile's endpoints is
what users of the gateway see.

Point a fleet file's aks cluster at it with spec.aks.armEndpoint. It accepts
any bearer token, so it listens on loopback only. It is not Azure: the
README's Providers table says what was tested against it only.`,
		Example: `  upshift local azure --listen 127.0.0.1:8443
  # fleet.yaml: spec: {provider: aks, aks: {subscriptionID: ` + azureemu.DefaultSubscription + `,
  #                     resourceGroup: ` + azureemu.AdoptGroup + `, name: prod, armEndpoint: http://127.0.0.1:8443}}`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := azureemu.CheckLoopback(listen); err != nil {
				return usageError{err}
			}
			fleet, err := o.fleet()
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return usageError{err}
			}
			emu := azureemu.New(fleet, subscription)
			emu.Log = o.streams.Err
			if gateway != "" {
				token, err := readToken(tokenFile)
				if err != nil {
					return usageError{err}
				}
				emu.Gateway = trafficgateway.New(gateway, token)
			}
			srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
			o.printer.Success("Azure emulator on http://%s (subscription %s, resource group %s holds the local fleet); it accepts any bearer token, on loopback only", ln.Addr(), emu.Subscription, azureemu.AdoptGroup)
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			err = srv.Serve(ln)
			emu.Close()
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("serving the Azure emulator: %w", err)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "loopback address to serve on")
	cmd.Flags().StringVar(&subscription, "subscription", azureemu.DefaultSubscription, "the one subscription that exists")
	cmd.Flags().StringVar(&gateway, "gateway", "", "admin URL of an upshift gateway that serves each Traffic Manager profile's DNS name")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding that gateway's admin token (default $UPSHIFT_GATEWAY_TOKEN)")
	return cmd
}
