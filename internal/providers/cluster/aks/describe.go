package aks

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/window"
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

var _ window.Keeper = (*Provider)(nil)

// aksWindows are the maintenance configurations AKS keeps windows in
// (the "default" one is the legacy timeInWeek form, for AKS's own
// planned maintenance, and holds no upgrade).
var aksWindows = map[string]string{
	"aksManagedAutoUpgradeSchedule":   window.HoldsVersions,
	"aksManagedNodeOSUpgradeSchedule": window.HoldsNodeImages,
}

// MaintenanceWindows reads the cluster's aksManagedAutoUpgradeSchedule
// (version upgrades) and aksManagedNodeOSUpgradeSchedule (node images):
// what the cluster's owners allow in Azure, which a run keeps to as AKS
// would.
func (p *Provider) MaintenanceWindows(ctx context.Context, name string) ([]window.Owned, error) {
	if p.Maintenance == nil {
		return nil, nil
	}
	var out []window.Owned
	pager := p.Maintenance.NewListByManagedClusterPager(p.Group, name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, azureError("listing the maintenance configurations of "+name, err)
		}
		for _, c := range page.Value {
			holds, ok := aksWindows[str(c.Name)]
			if !ok || c.Properties == nil || c.Properties.MaintenanceWindow == nil {
				continue
			}
			w, err := windowOf(c.Properties.MaintenanceWindow)
			if err != nil {
				return nil, fmt.Errorf("maintenance configuration %s of %s: %w", str(c.Name), name, err)
			}
			out = append(out, window.Owned{Source: "AKS maintenance configuration " + str(c.Name), Holds: holds, Spec: w})
		}
	}
	return out, nil
}

// windowOf is AKS's maintenance window in upshift's terms, which follow
// AKS's field for field.
func windowOf(w *armcontainerservice.MaintenanceWindow) (v1alpha1.MaintenanceWindow, error) {
	out := v1alpha1.MaintenanceWindow{StartTime: str(w.StartTime), DurationHours: i32(w.DurationHours), UTCOffset: str(w.UTCOffset)}
	if w.StartDate != nil {
		out.StartDate = w.StartDate.Format("2006-01-02")
	}
	for _, d := range w.NotAllowedDates {
		if d != nil && d.Start != nil && d.End != nil {
			out.NotAllowedDates = append(out.NotAllowedDates, v1alpha1.DateSpan{Start: d.Start.Format("2006-01-02"), End: d.End.Format("2006-01-02")})
		}
	}
	switch s := w.Schedule; {
	case s == nil:
		return out, fmt.Errorf("it has no schedule")
	case s.Daily != nil:
		out.Schedule.Daily = &v1alpha1.DailySchedule{IntervalDays: i32(s.Daily.IntervalDays)}
	case s.Weekly != nil:
		out.Schedule.Weekly = &v1alpha1.WeeklySchedule{IntervalWeeks: i32(s.Weekly.IntervalWeeks), DayOfWeek: weekday(s.Weekly.DayOfWeek)}
	case s.AbsoluteMonthly != nil:
		out.Schedule.AbsoluteMonthly = &v1alpha1.AbsoluteMonthlySchedule{IntervalMonths: i32(s.AbsoluteMonthly.IntervalMonths), DayOfMonth: i32(s.AbsoluteMonthly.DayOfMonth)}
	case s.RelativeMonthly != nil:
		index := ""
		if s.RelativeMonthly.WeekIndex != nil {
			index = string(*s.RelativeMonthly.WeekIndex)
		}
		out.Schedule.RelativeMonthly = &v1alpha1.RelativeMonthlySchedule{IntervalMonths: i32(s.RelativeMonthly.IntervalMonths), WeekIndex: index, DayOfWeek: weekday(s.RelativeMonthly.DayOfWeek)}
	default:
		return out, fmt.Errorf("its schedule is none of daily, weekly, absoluteMonthly, relativeMonthly")
	}
	return out, nil
}
