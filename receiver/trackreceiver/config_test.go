package trackreceiver

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := createDefaultConfig()
	custom.ServerConfig.NetAddr.Endpoint = "127.0.0.1:9091"
	custom.ServerConfig.MaxRequestBodySize = 1 << 20
	cors := confighttp.NewDefaultCORSConfig()
	cors.AllowedOrigins = []string{"https://shop.example.com"}
	custom.ServerConfig.CORS = configoptional.Some(cors)
	custom.WriteKeys = map[string]string{
		"wk_chatbot_123":   "ai_chatbot",
		"wk_workbench_456": "agent_workbench",
		"wk_any_789":       "",
	}
	custom.MaxBatchEvents = 100
	custom.MaxEventBytes = 16384
	custom.RetryAfter = 5 * time.Second

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(componentType), want: createDefaultConfig()},
		{id: component.NewIDWithName(componentType, "custom"), want: custom},
		{
			id: component.NewIDWithName(componentType, "bad"),
			wantErr: "endpoint: must not be empty (e.g. localhost:8091)\n" +
				"max_request_body_size: must not be negative, got -1\n" +
				"write_keys: a write key must not be empty\n" +
				"max_batch_events: must be positive, got 0\n" +
				"max_event_bytes: must be positive, got -5\n" +
				"retry_after: must be positive, got 0s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.wantErr != "" {
				require.Error(t, confmap.Validate(cfg))
				assert.Equal(t, tt.wantErr, cfg.(*Config).Validate().Error())
				return
			}
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestLoadConfigTypo(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config_typo.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewID(componentType).String())
	require.NoError(t, err)
	err = sub.Unmarshal(NewFactory().CreateDefaultConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has invalid keys: write_key")
}

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "localhost:8091", cfg.ServerConfig.NetAddr.Endpoint)
	assert.Equal(t, int64(512000), cfg.ServerConfig.MaxRequestBodySize)
	assert.Empty(t, cfg.WriteKeys)
	assert.Equal(t, 500, cfg.MaxBatchEvents)
	assert.Equal(t, 32768, cfg.MaxEventBytes)
	assert.Equal(t, time.Second, cfg.RetryAfter)
}

// A configuration with several write keys marshals (the collector prints
// its effective configuration at start; redacted map keys once collided
// there and stopped the collector).
func TestWriteKeysMarshal(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.WriteKeys = map[string]string{"wk_chat": "ai_chatbot", "wk_desk": "agent_workbench", "wk_web": ""}
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	assert.Equal(t, map[string]any{"wk_chat": "ai_chatbot", "wk_desk": "agent_workbench", "wk_web": ""}, conf.ToStringMap()["write_keys"])
}

// The write keys, being map keys, cannot be ${env:…} references one by
// one, but the whole map can come from an environment variable (or a file)
// holding YAML: keys stay out of the configuration file.
func TestWriteKeysFromEnv(t *testing.T) {
	t.Setenv("TRACK_WRITE_KEYS", "{wk_chatbot_123: ai_chatbot, wk_workbench_456: agent_workbench}")
	tests := []struct {
		yaml string
		want map[string]string
	}{
		{
			yaml: "track:\n  write_keys: ${env:TRACK_WRITE_KEYS}\n",
			want: map[string]string{"wk_chatbot_123": "ai_chatbot", "wk_workbench_456": "agent_workbench"},
		},
		{
			yaml: "track:\n  write_keys: ${env:TRACK_WRITE_KEYS_UNSET}\n",
			want: nil, // unset: no write-key check
		},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.yaml), 0o600))
			resolver, err := confmap.NewResolver(confmap.ResolverSettings{
				URIs:              []string{"file:" + path},
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
			})
			require.NoError(t, err)
			conf, err := resolver.Resolve(context.Background())
			require.NoError(t, err)
			sub, err := conf.Sub("track")
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			assert.Equal(t, tt.want, cfg.WriteKeys)
			require.NoError(t, resolver.Shutdown(context.Background()))
		})
	}
}
