package aks

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	"upshift.dev/upshift/internal/providers/cluster"
)

var _ cluster.Describer = (*Provider)(nil)

// Describe says what AKS itself will do to the cluster: its auto-upgrade
// channels, which upgrade it on their own schedule, and its maintenance
// configurations (default, aksManagedAutoUpgradeSchedule,
// aksManagedNodeOSUpgradeSchedule).
func (p *Provider) Describe(ctx context.Context, name string) ([]string, error) {
	mc, err := p.get(ctx, name)
	if err != nil {
		return nil, err
	}
	var notes []string
	if a := mc.Properties.AutoUpgradeProfile; a != nil {
		if c := a.UpgradeChannel; c != nil && *c != armcontainerservice.UpgradeChannelNone {
			notes = append(notes, fmt.Sprintf("AKS auto-upgrade channel %s is on: AKS upgrades this cluster on its own schedule too", *c))
		}
		if c := a.NodeOSUpgradeChannel; c != nil && *c != armcontainerservice.NodeOSUpgradeChannelNone {
			notes = append(notes, fmt.Sprintf("AKS node OS upgrade channel %s is on", *c))
		}
	}
	if p.Maintenance == nil {
		return notes, nil
	}
	pager := p.Maintenance.NewListByManagedClusterPager(p.Group, name, nil)
	found := false
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return notes, azureError("listing the maintenance configurations of "+name, err)
		}
		for _, c := range page.Value {
			if c == nil || c.Properties == nil {
				continue
			}
			found = true
			notes = append(notes, fmt.Sprintf("maintenance configuration %s: %s", str(c.Name), describeMaintenance(c.Properties)))
		}
	}
	if !found {
		notes = append(notes, "no maintenance configuration: AKS may do planned maintenance at any time")
	}
	return notes, nil
}

// describeMaintenance writes a configuration as a person would say it:
// "weekly on Sunday at 00:00 UTC+00:00 for 4h, not 2026-12-24 to 2026-12-26".
func describeMaintenance(p *armcontainerservice.MaintenanceConfigurationProperties) string {
	var parts []string
	if w := p.MaintenanceWindow; w != nil {
		var every string
		switch s := w.Schedule; {
		case s == nil:
			every = "no schedule"
		case s.Weekly != nil:
			every = fmt.Sprintf("every %d week(s) on %s", i32(s.Weekly.IntervalWeeks), weekday(s.Weekly.DayOfWeek))
		case s.AbsoluteMonthly != nil:
			every = fmt.Sprintf("every %d month(s) on day %d", i32(s.AbsoluteMonthly.IntervalMonths), i32(s.AbsoluteMonthly.DayOfMonth))
		case s.RelativeMonthly != nil:
			week := ""
			if s.RelativeMonthly.WeekIndex != nil {
				week = string(*s.RelativeMonthly.WeekIndex)
			}
			every = fmt.Sprintf("every %d month(s) on the %s %s", i32(s.RelativeMonthly.IntervalMonths), week, weekday(s.RelativeMonthly.DayOfWeek))
		case s.Daily != nil:
			every = fmt.Sprintf("every %d day(s)", i32(s.Daily.IntervalDays))
		}
		offset := str(w.UTCOffset)
		if offset == "" {
			offset = "+00:00"
		}
		parts = append(parts, fmt.Sprintf("%s at %s UTC%s for %dh", every, str(w.StartTime), offset, i32(w.DurationHours)))
		for _, d := range w.NotAllowedDates {
			if d != nil && d.Start != nil && d.End != nil {
				parts = append(parts, fmt.Sprintf("not %s to %s", d.Start.Format("2006-01-02"), d.End.Format("2006-01-02")))
			}
		}
	}
	for _, t := range p.TimeInWeek {
		if t == nil {
			continue
		}
		var hours []string
		for _, h := range t.HourSlots {
			if h != nil {
				hours = append(hours, fmt.Sprintf("%02d:00", *h))
			}
		}
		parts = append(parts, fmt.Sprintf("%s at %s UTC", weekday(t.Day), strings.Join(hours, ", ")))
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, ", ")
}

func i32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func weekday(d *armcontainerservice.WeekDay) string {
	if d == nil {
		return "?"
	}
	return string(*d)
}
