package window

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
)

func mustCompile(t *testing.T, w v1alpha1.MaintenanceWindow) *Window {
	t.Helper()
	c, errs := Compile(w, field.NewPath("maintenanceWindow"))
	if len(errs) > 0 {
		t.Fatalf("Compile: %v", errs.ToAggregate())
	}
	return c
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func weekly(day string, start string, hours int32) v1alpha1.MaintenanceWindow {
	return v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Weekly: &v1alpha1.WeeklySchedule{IntervalWeeks: 1, DayOfWeek: day}}, StartTime: start, DurationHours: hours}
}

// TestNext walks each kind of schedule through the cases that go wrong in
// hand-written window code: a window open across midnight, UTC offsets,
// daylight saving changes, month ends, intervals and blackout dates.
func TestNext(t *testing.T) {
	berlinSunday := weekly("Sunday", "02:00", 4)
	berlinSunday.TimeZone = "Europe/Berlin"
	offset := weekly("Sunday", "00:00", 4)
	offset.UTCOffset = "+01:00"
	lateNight := weekly("Saturday", "22:00", 6)
	blackout := weekly("Thursday", "00:00", 24)
	blackout.NotAllowedDates = []v1alpha1.DateSpan{{Start: "2026-12-24", End: "2026-12-26"}}
	partBlackout := v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Daily: &v1alpha1.DailySchedule{IntervalDays: 1}}, StartTime: "20:00", DurationHours: 8,
		NotAllowedDates: []v1alpha1.DateSpan{{Start: "2026-12-25", End: "2026-12-25"}}}
	monthEnd := v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{AbsoluteMonthly: &v1alpha1.AbsoluteMonthlySchedule{IntervalMonths: 1, DayOfMonth: 31}}, StartTime: "03:00", DurationHours: 4}
	lastSunday := v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{RelativeMonthly: &v1alpha1.RelativeMonthlySchedule{IntervalMonths: 1, WeekIndex: "Last", DayOfWeek: "Sunday"}}, StartTime: "01:00", DurationHours: 4}
	secondTuesday := v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{RelativeMonthly: &v1alpha1.RelativeMonthlySchedule{IntervalMonths: 1, WeekIndex: "Second", DayOfWeek: "Tuesday"}}, StartTime: "18:00", DurationHours: 4}
	everyThirdDay := v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Daily: &v1alpha1.DailySchedule{IntervalDays: 3}}, StartTime: "00:00", DurationHours: 4, StartDate: "2026-11-01"}
	fortnightly := weekly("Monday", "09:00", 8)
	fortnightly.Schedule.Weekly.IntervalWeeks = 2
	fortnightly.StartDate = "2026-11-04" // a Wednesday: weeks count from Monday 2 November
	quarterly := monthEnd
	quarterly.Schedule = v1alpha1.WindowSchedule{AbsoluteMonthly: &v1alpha1.AbsoluteMonthlySchedule{IntervalMonths: 3, DayOfMonth: 15}}
	quarterly.StartDate = "2026-01-01"
	cron := func(expr, zone string, hours int32) v1alpha1.MaintenanceWindow {
		return v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Cron: expr}, TimeZone: zone, DurationHours: hours}
	}
	cronBlackout := cron("0 22 * * *", "", 6)
	cronBlackout.NotAllowedDates = []v1alpha1.DateSpan{{Start: "2026-12-25", End: "2026-12-25"}}
	cronFrom := cron("30 1 * * MON-FRI", "", 4)
	cronFrom.StartDate = "2026-12-01"

	for _, tc := range []struct {
		name         string
		w            v1alpha1.MaintenanceWindow
		now          string
		opens, close string // RFC 3339, in UTC
	}{
		{"weekly, before it opens", weekly("Sunday", "02:00", 4), "2026-11-23T12:00:00Z", "2026-11-29T02:00:00Z", "2026-11-29T06:00:00Z"},
		{"weekly, open now", weekly("Sunday", "02:00", 4), "2026-11-29T03:30:00Z", "2026-11-29T02:00:00Z", "2026-11-29T06:00:00Z"},
		{"weekly, the moment it closes", weekly("Sunday", "02:00", 4), "2026-11-29T06:00:00Z", "2026-12-06T02:00:00Z", "2026-12-06T06:00:00Z"},
		{"open across midnight, asked after midnight", lateNight, "2026-11-29T01:00:00Z", "2026-11-28T22:00:00Z", "2026-11-29T04:00:00Z"},
		{"UTC+01:00: Sunday 00:00 there is Saturday 23:00 UTC", offset, "2026-11-28T12:00:00Z", "2026-11-28T23:00:00Z", "2026-11-29T03:00:00Z"},
		{"Berlin in winter (UTC+1)", berlinSunday, "2026-11-23T00:00:00Z", "2026-11-29T01:00:00Z", "2026-11-29T05:00:00Z"},
		{"Berlin in summer (UTC+2)", berlinSunday, "2026-07-01T00:00:00Z", "2026-07-05T00:00:00Z", "2026-07-05T04:00:00Z"},
		// 29 March 2026: Berlin's clocks jump from 02:00 to 03:00, so
		// 02:00 does not exist; Go resolves it to 03:00 summer time
		// (01:00 UTC), and the window keeps its 4 elapsed hours.
		{"Berlin, the night clocks go forward", berlinSunday, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T05:00:00Z"},
		// 25 October 2026: clocks go back from 03:00 to 02:00; 02:00
		// happens twice and the first (summer time, 00:00 UTC) counts.
		{"Berlin, the night clocks go back", berlinSunday, "2026-10-24T12:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T04:00:00Z"},
		{"blackout skips Christmas Eve, a Thursday", blackout, "2026-12-23T12:00:00Z", "2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"blackout cuts a window that crosses into it", partBlackout, "2026-12-24T12:00:00Z", "2026-12-24T20:00:00Z", "2026-12-25T00:00:00Z"},
		{"blackout, the window after it", partBlackout, "2026-12-25T00:00:00Z", "2026-12-26T00:00:00Z", "2026-12-26T04:00:00Z"},
		{"day 31 in a 30-day month: its last day", monthEnd, "2026-11-02T00:00:00Z", "2026-11-30T03:00:00Z", "2026-11-30T07:00:00Z"},
		{"day 31 in February: the 28th", monthEnd, "2027-02-01T00:00:00Z", "2027-02-28T03:00:00Z", "2027-02-28T07:00:00Z"},
		{"day 31 in a leap February: the 29th", monthEnd, "2028-02-01T00:00:00Z", "2028-02-29T03:00:00Z", "2028-02-29T07:00:00Z"},
		{"last Sunday of November 2026", lastSunday, "2026-11-02T00:00:00Z", "2026-11-29T01:00:00Z", "2026-11-29T05:00:00Z"},
		{"last Sunday, across a year end", lastSunday, "2026-12-28T00:00:00Z", "2027-01-31T01:00:00Z", "2027-01-31T05:00:00Z"},
		{"second Tuesday of December 2026", secondTuesday, "2026-12-01T00:00:00Z", "2026-12-08T18:00:00Z", "2026-12-08T22:00:00Z"},
		{"every third day from 1 November", everyThirdDay, "2026-11-23T12:00:00Z", "2026-11-25T00:00:00Z", "2026-11-25T04:00:00Z"},
		{"nothing opens before the start date", everyThirdDay, "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-11-01T04:00:00Z"},
		{"every second week from the start date's week", fortnightly, "2026-11-04T00:00:00Z", "2026-11-16T09:00:00Z", "2026-11-16T17:00:00Z"},
		{"every third month on the 15th", quarterly, "2026-11-23T00:00:00Z", "2027-01-15T03:00:00Z", "2027-01-15T07:00:00Z"},
		{"cron: Sundays at 02:00, before it opens", cron("0 2 * * SUN", "", 4), "2026-11-23T12:00:00Z", "2026-11-29T02:00:00Z", "2026-11-29T06:00:00Z"},
		{"cron: open now, opened the day before", cron("0 22 * * SAT", "", 6), "2026-11-29T01:00:00Z", "2026-11-28T22:00:00Z", "2026-11-29T04:00:00Z"},
		{"cron in Berlin: 02:30 does not exist the night clocks go forward, so that Sunday has none (cron's rule)", cron("30 2 * * SUN", "Europe/Berlin", 4), "2026-03-28T12:00:00Z", "2026-04-05T00:30:00Z", "2026-04-05T04:30:00Z"},
		{"cron in Berlin in winter", cron("0 2 * * SUN", "Europe/Berlin", 4), "2026-11-23T00:00:00Z", "2026-11-29T01:00:00Z", "2026-11-29T05:00:00Z"},
		{"cron: a blackout cuts a window that crosses into it", cronBlackout, "2026-12-24T12:00:00Z", "2026-12-24T22:00:00Z", "2026-12-25T00:00:00Z"},
		{"cron: the window after a blackout day", cronBlackout, "2026-12-25T00:00:00Z", "2026-12-26T00:00:00Z", "2026-12-26T04:00:00Z"},
		{"cron: weekdays, nothing before the start date", cronFrom, "2026-11-20T00:00:00Z", "2026-12-01T01:30:00Z", "2026-12-01T05:30:00Z"},
		{"cron: the first of each month at 03:00", cron("0 3 1 * *", "", 4), "2026-12-02T00:00:00Z", "2027-01-01T03:00:00Z", "2027-01-01T07:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mustCompile(t, tc.w)
			now := at(t, tc.now)
			opens, closes := w.Next(now)
			if !opens.Equal(at(t, tc.opens)) || !closes.Equal(at(t, tc.close)) {
				t.Fatalf("Next(%s) = %s – %s; want %s – %s", tc.now, opens.UTC().Format(time.RFC3339), closes.UTC().Format(time.RFC3339), tc.opens, tc.close)
			}
			open, until := w.Open(now)
			wantOpen := !opens.After(now)
			if open != wantOpen || (open && !until.Equal(closes)) {
				t.Errorf("Open(%s) = %v until %s; want %v", tc.now, open, until, wantOpen)
			}
		})
	}
}

func TestNeverOpens(t *testing.T) {
	w := weekly("Sunday", "02:00", 4)
	w.NotAllowedDates = []v1alpha1.DateSpan{{Start: "2026-01-01", End: "2099-12-31"}}
	opens, closes := mustCompile(t, w).Next(at(t, "2026-11-23T00:00:00Z"))
	if !opens.IsZero() || !closes.IsZero() {
		t.Errorf("a window blacked out for decades opens %s – %s", opens, closes)
	}
}

func TestCompileRefusals(t *testing.T) {
	good := weekly("Sunday", "02:00", 4)
	for _, tc := range []struct {
		name string
		edit func(*v1alpha1.MaintenanceWindow)
		want string
	}{
		{"too short", func(w *v1alpha1.MaintenanceWindow) { w.DurationHours = 2 }, "maintenanceWindow.durationHours: Invalid value: 2: must be 4 to 24"},
		{"bad start time", func(w *v1alpha1.MaintenanceWindow) { w.StartTime = "2am" }, "maintenanceWindow.startTime: Invalid value: \"2am\": not a time of day: write HH:MM"},
		{"24:00", func(w *v1alpha1.MaintenanceWindow) { w.StartTime = "24:00" }, "startTime"},
		{"bad day", func(w *v1alpha1.MaintenanceWindow) { w.Schedule.Weekly.DayOfWeek = "Sun" }, "maintenanceWindow.schedule.weekly.dayOfWeek: Unsupported value: \"Sun\""},
		{"zero interval", func(w *v1alpha1.MaintenanceWindow) { w.Schedule.Weekly.IntervalWeeks = 0 }, "intervalWeeks: Invalid value: 0: must be at least 1"},
		{"two schedules", func(w *v1alpha1.MaintenanceWindow) { w.Schedule.Daily = &v1alpha1.DailySchedule{IntervalDays: 1} }, "exactly one of daily, weekly"},
		{"no schedule", func(w *v1alpha1.MaintenanceWindow) { w.Schedule = v1alpha1.WindowSchedule{} }, "exactly one of daily, weekly"},
		{"bad offset", func(w *v1alpha1.MaintenanceWindow) { w.UTCOffset = "+1" }, "utcOffset: Invalid value: \"+1\": not a UTC offset: write +HH:MM"},
		{"unknown zone", func(w *v1alpha1.MaintenanceWindow) { w.TimeZone = "Mars/Olympus" }, "timeZone: Invalid value: \"Mars/Olympus\": not an IANA time zone name"},
		{"offset and zone", func(w *v1alpha1.MaintenanceWindow) { w.UTCOffset, w.TimeZone = "+01:00", "Europe/Berlin" }, "give utcOffset or timeZone, not both"},
		{"blackout backwards", func(w *v1alpha1.MaintenanceWindow) {
			w.NotAllowedDates = []v1alpha1.DateSpan{{Start: "2026-12-26", End: "2026-12-24"}}
		}, "notAllowedDates[0].end: Invalid value: \"2026-12-24\": ends before it starts"},
		{"blackout not a date", func(w *v1alpha1.MaintenanceWindow) {
			w.NotAllowedDates = []v1alpha1.DateSpan{{Start: "Christmas", End: "2026-12-24"}}
		}, "notAllowedDates[0].start: Invalid value: \"Christmas\": not a date: write YYYY-MM-DD"},
		{"day of month 32", func(w *v1alpha1.MaintenanceWindow) {
			w.Schedule = v1alpha1.WindowSchedule{AbsoluteMonthly: &v1alpha1.AbsoluteMonthlySchedule{IntervalMonths: 1, DayOfMonth: 32}}
		}, "dayOfMonth: Invalid value: 32: must be 1 to 31"},
		{"cron not an expression", func(w *v1alpha1.MaintenanceWindow) {
			w.Schedule, w.StartTime = v1alpha1.WindowSchedule{Cron: "every sunday"}, ""
		}, "schedule.cron: Invalid value: \"every sunday\": not a cron expression (minute hour day-of-month month day-of-week"},
		{"cron and a start time", func(w *v1alpha1.MaintenanceWindow) { w.Schedule = v1alpha1.WindowSchedule{Cron: "0 2 * * SUN"} }, "startTime: Invalid value: \"02:00\": a cron schedule gives the time itself"},
		{"cron and weekly", func(w *v1alpha1.MaintenanceWindow) { w.Schedule.Cron, w.StartTime = "0 2 * * SUN", "" }, "give cron or one of daily, weekly"},
		{"cron with its own zone", func(w *v1alpha1.MaintenanceWindow) {
			w.Schedule, w.StartTime = v1alpha1.WindowSchedule{Cron: "CRON_TZ=Asia/Tokyo 0 2 * * SUN"}, ""
		}, "give the zone in timeZone or utcOffset, not in the expression"},
		{"week index", func(w *v1alpha1.MaintenanceWindow) {
			w.Schedule = v1alpha1.WindowSchedule{RelativeMonthly: &v1alpha1.RelativeMonthlySchedule{IntervalMonths: 1, WeekIndex: "Fifth", DayOfWeek: "Monday"}}
		}, "weekIndex: Unsupported value: \"Fifth\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := good
			weeklyCopy := *good.Schedule.Weekly
			w.Schedule.Weekly = &weeklyCopy
			tc.edit(&w)
			c, errs := Compile(w, field.NewPath("maintenanceWindow"))
			if c != nil || len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("Compile = %v, %v; want an error with %q", c, errs.ToAggregate(), tc.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	w := weekly("Sunday", "02:00", 4)
	w.UTCOffset = "+01:00"
	w.NotAllowedDates = []v1alpha1.DateSpan{{Start: "2026-12-24", End: "2026-12-26"}}
	if got, want := Describe(w), "every 1 week(s) on Sunday at 02:00 UTC+01:00 for 4h, not 2026-12-24 to 2026-12-26"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	c := v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Cron: "0 2 * * SUN"}, TimeZone: "Europe/Berlin", DurationHours: 6}
	if got, want := Describe(c), `cron "0 2 * * SUN" Europe/Berlin for 6h`; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}
