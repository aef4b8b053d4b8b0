package eventcatalogprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{
			id:   component.NewID(componentType),
			want: createDefaultConfig(),
		},
		{
			id: component.NewIDWithName(componentType, "custom"),
			want: &Config{
				Catalog:     CatalogConfig{File: "testdata/catalog_extend.yaml", Mode: ModeExtend},
				PassThrough: true,
				Limits: LimitsConfig{
					MaxAttributes: 32, MaxValueBytes: 4096, MaxRecordBytes: 32768, MaxDepth: 8,
					MaxFutureSkew: 10 * time.Minute, MinEventTime: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC),
				},
			},
		},
		{
			id: component.NewIDWithName(componentType, "replace"),
			want: &Config{
				Catalog: CatalogConfig{File: "testdata/catalog_replace.yaml", Mode: ModeReplace},
				Limits:  createDefaultConfig().Limits,
			},
		},
		{
			id:      component.NewIDWithName(componentType, "bad_mode"),
			wantErr: `catalog.mode: must be "extend" or "replace", got "merge"`,
		},
		{
			id:      component.NewIDWithName(componentType, "replace_without_file"),
			wantErr: `catalog.mode: "replace" needs catalog.file`,
		},
		{
			id: component.NewIDWithName(componentType, "bad_limits"),
			wantErr: "limits.max_attributes: must be positive, got 0\n" +
				"limits.max_value_bytes: must be positive, got -1\n" +
				"limits.max_record_bytes: must be positive, got 0\n" +
				"limits.max_depth: must be 1 to 24 (the deepest nesting the persistent queue can read back), got 25\n" +
				"limits.max_future_skew: must be positive, got 0s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.wantErr != "" {
				err := confmap.Validate(cfg)
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, cfg.(*Config).Validate().Error())
				return
			}
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestLoadConfigTypo(t *testing.T) {
	tests := []struct {
		file string
		key  string
	}{
		{file: "config_typo.yaml", key: "pass_thru"},
		{file: "config_typo_nested.yaml", key: "fiel"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			sub, err := cm.Sub(component.NewID(componentType).String())
			require.NoError(t, err)
			err = sub.Unmarshal(NewFactory().CreateDefaultConfig())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "has invalid keys: "+tt.key)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	assert.Equal(t, &Config{
		Catalog: CatalogConfig{Mode: "extend"},
		Limits: LimitsConfig{
			MaxAttributes: 64, MaxValueBytes: 8192, MaxRecordBytes: 65536, MaxDepth: 16,
			MaxFutureSkew: time.Hour, MinEventTime: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		},
	}, cfg)
	require.NoError(t, confmap.Validate(cfg))
}
