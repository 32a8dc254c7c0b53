package cli

import (
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func kubernetesClient(cfg *rest.Config) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(cfg)
}

func clientcmdAPIConfig() *clientcmdapi.Config { return clientcmdapi.NewConfig() }
