package window

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones on machines without a zoneinfo database

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
)

// Window is a compiled maintenance window.
type Window struct {
	zone     *time.Location
	hour     int
	minute   int
	duration time.Duration
	from     date // the schedule counts from this day; nothing opens before
	blackout []span
	// on reports whether the schedule opens the window on day d;
	// with a cron schedule, cron says when it opens instead.
	on   func(d date) bool
	cron cron.Schedule
}

// date is a calendar day in the window's zone.
type date struct {
	y int
	m time.Month
	d int
}

// at is the moment the day's clock shows hour:minute. On the night clocks
// go back, the first of the two such moments; on the night they go
// forward past it, the moment after the jump (Go's choice, kept).
func (d date) at(hour, minute int, loc *time.Location) time.Time {
	t := time.Date(d.y, d.m, d.d, hour, minute, 0, 0, loc)
	for _, back := range []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute} {
		e := t.Add(-back).In(loc)
		if e.Day() == d.d && e.Hour() == hour && e.Minute() == minute {
			return e
		}
	}
	return t
}

// days counts whole days since 1970-01-01, whatever the zone.
func (d date) days() int {
	return int(time.Date(d.y, d.m, d.d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (d date) add(n int) date {
	t := time.Date(d.y, d.m, d.d+n, 0, 0, 0, 0, time.UTC)
	return date{t.Year(), t.Month(), t.Day()}
}

func dateOf(t time.Time, loc *time.Location) date {
	t = t.In(loc)
	return date{t.Year(), t.Month(), t.Day()}
}

// span is a range of days, both included.
type span struct{ first, last date }

// Compile checks a window and prepares it. Errors carry the field path
// under path, and say what to write instead.
func Compile(w v1alpha1.MaintenanceWindow, path *field.Path) (*Window, field.ErrorList) {
	var errs field.ErrorList
	out := &Window{zone: time.UTC, from: date{1970, time.January, 1}}
	switch {
	case w.UTCOffset != "" && w.TimeZone != "":
		errs = append(errs, field.Invalid(path.Child("timeZone"), w.TimeZone, "give utcOffset or timeZone, not both"))
	case w.TimeZone != "":
		loc, err := time.LoadLocation(w.TimeZone)
		if err != nil {
			errs = append(errs, field.Invalid(path.Child("timeZone"), w.TimeZone, "not an IANA time zone name such as Europe/Berlin"))
		} else {
			out.zone = loc
		}
	case w.UTCOffset != "":
		loc, err := parseOffset(w.UTCOffset)
		if err != nil {
			errs = append(errs, field.Invalid(path.Child("utcOffset"), w.UTCOffset, err.Error()))
		} else {
			out.zone = loc
		}
	}
	switch {
	case w.Schedule.Cron != "" && w.StartTime != "":
		errs = append(errs, field.Invalid(path.Child("startTime"), w.StartTime, "a cron schedule gives the time itself: leave startTime out"))
	case w.Schedule.Cron != "":
	default:
		if h, m, err := parseClock(w.StartTime); err != nil {
			errs = append(errs, field.Invalid(path.Child("startTime"), w.StartTime, err.Error()))
		} else {
			out.hour, out.minute = h, m
		}
	}
	if w.DurationHours < 4 || w.DurationHours > 24 {
		errs = append(errs, field.Invalid(path.Child("durationHours"), w.DurationHours, "must be 4 to 24, as AKS requires"))
	}
	out.duration = time.Duration(w.DurationHours) * time.Hour
	if w.StartDate != "" {
		d, err := parseDate(w.StartDate)
		if err != nil {
			errs = append(errs, field.Invalid(path.Child("startDate"), w.StartDate, err.Error()))
		} else {
			out.from = d
		}
	}
	for i, s := range w.NotAllowedDates {
		p := path.Child("notAllowedDates").Index(i)
		first, err1 := parseDate(s.Start)
		if err1 != nil {
			errs = append(errs, field.Invalid(p.Child("start"), s.Start, err1.Error()))
		}
		last, err2 := parseDate(s.End)
		if err2 != nil {
			errs = append(errs, field.Invalid(p.Child("end"), s.End, err2.Error()))
		}
		if err1 == nil && err2 == nil {
			if last.days() < first.days() {
				errs = append(errs, field.Invalid(p.Child("end"), s.End, "ends before it starts"))
			}
			out.blackout = append(out.blackout, span{first, last})
		}
	}
	if w.Schedule.Cron != "" {
		sched, err := cron.ParseStandard(w.Schedule.Cron)
		switch {
		case strings.HasPrefix(strings.TrimSpace(w.Schedule.Cron), "TZ=") || strings.HasPrefix(strings.TrimSpace(w.Schedule.Cron), "CRON_TZ="):
			errs = append(errs, field.Invalid(path.Child("schedule", "cron"), w.Schedule.Cron, "give the zone in timeZone or utcOffset, not in the expression"))
		case err != nil:
			errs = append(errs, field.Invalid(path.Child("schedule", "cron"), w.Schedule.Cron, "not a cron expression (minute hour day-of-month month day-of-week, such as \"0 2 * * SUN\"): "+err.Error()))
		default:
			out.cron = sched
		}
		if w.Schedule.Daily != nil || w.Schedule.Weekly != nil || w.Schedule.AbsoluteMonthly != nil || w.Schedule.RelativeMonthly != nil {
			errs = append(errs, field.Invalid(path.Child("schedule", "cron"), w.Schedule.Cron, "give cron or one of daily, weekly, absoluteMonthly, relativeMonthly, not both"))
		}
	} else {
		on, serrs := compileSchedule(w.Schedule, out.from, path.Child("schedule"))
		errs = append(errs, serrs...)
		out.on = on
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

var weekdays = map[string]time.Weekday{
	"Sunday": time.Sunday, "Monday": time.Monday, "Tuesday": time.Tuesday, "Wednesday": time.Wednesday,
	"Thursday": time.Thursday, "Friday": time.Friday, "Saturday": time.Saturday,
}

func weekday(s string, p *field.Path) (time.Weekday, *field.Error) {
	if d, ok := weekdays[s]; ok {
		return d, nil
	}
	return 0, field.NotSupported(p, s, []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"})
}

func compileSchedule(s v1alpha1.WindowSchedule, from date, p *field.Path) (func(date) bool, field.ErrorList) {
	var errs field.ErrorList
	set := 0
	for _, isSet := range []bool{s.Daily != nil, s.Weekly != nil, s.AbsoluteMonthly != nil, s.RelativeMonthly != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		return nil, field.ErrorList{field.Required(p, "exactly one of daily, weekly, absoluteMonthly, relativeMonthly or cron")}
	}
	months := func(d date) int { return (d.y-from.y)*12 + int(d.m) - int(from.m) }
	switch {
	case s.Daily != nil:
		n := int(s.Daily.IntervalDays)
		if n < 1 {
			return nil, field.ErrorList{field.Invalid(p.Child("daily", "intervalDays"), n, "must be at least 1")}
		}
		return func(d date) bool { return (d.days()-from.days())%n == 0 }, nil
	case s.Weekly != nil:
		n := int(s.Weekly.IntervalWeeks)
		if n < 1 {
			errs = append(errs, field.Invalid(p.Child("weekly", "intervalWeeks"), n, "must be at least 1"))
		}
		day, err := weekday(s.Weekly.DayOfWeek, p.Child("weekly", "dayOfWeek"))
		if err != nil {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return nil, errs
		}
		// Weeks count from the week (Monday to Sunday) of the start date.
		monday := from.add(-((int(from.at(0, 0, time.UTC).Weekday()) + 6) % 7))
		return func(d date) bool {
			return d.at(0, 0, time.UTC).Weekday() == day && ((d.days()-monday.days())/7)%n == 0
		}, nil
	case s.AbsoluteMonthly != nil:
		n, dom := int(s.AbsoluteMonthly.IntervalMonths), int(s.AbsoluteMonthly.DayOfMonth)
		if n < 1 {
			errs = append(errs, field.Invalid(p.Child("absoluteMonthly", "intervalMonths"), n, "must be at least 1"))
		}
		if dom < 1 || dom > 31 {
			errs = append(errs, field.Invalid(p.Child("absoluteMonthly", "dayOfMonth"), dom, "must be 1 to 31"))
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return func(d date) bool {
			return months(d)%n == 0 && d.d == min(dom, daysIn(d.y, d.m))
		}, nil
	default:
		n := int(s.RelativeMonthly.IntervalMonths)
		if n < 1 {
			errs = append(errs, field.Invalid(p.Child("relativeMonthly", "intervalMonths"), n, "must be at least 1"))
		}
		day, err := weekday(s.RelativeMonthly.DayOfWeek, p.Child("relativeMonthly", "dayOfWeek"))
		if err != nil {
			errs = append(errs, err)
		}
		index := map[string]int{"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
		k, ok := index[s.RelativeMonthly.WeekIndex]
		if !ok {
			errs = append(errs, field.NotSupported(p.Child("relativeMonthly", "weekIndex"), s.RelativeMonthly.WeekIndex, []string{"First", "Second", "Third", "Fourth", "Last"}))
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return func(d date) bool {
			if months(d)%n != 0 || d.at(0, 0, time.UTC).Weekday() != day {
				return false
			}
			if k == -1 {
				return d.d+7 > daysIn(d.y, d.m)
			}
			return (d.d-1)/7+1 == k
		}, nil
	}
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

var clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

func parseClock(s string) (hour, minute int, err error) {
	m := clockRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("not a time of day: write HH:MM, such as 02:00")
	}
	hour, _ = strconv.Atoi(m[1])
	minute, _ = strconv.Atoi(m[2])
	return hour, minute, nil
}

func parseDate(s string) (date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return date{}, fmt.Errorf("not a date: write YYYY-MM-DD, such as 2026-12-24")
	}
	return date{t.Year(), t.Month(), t.Day()}, nil
}

var offsetRE = regexp.MustCompile(`^([+-])([01][0-9]|1[0-4]):([0-5][0-9])$`)

func parseOffset(s string) (*time.Location, error) {
	m := offsetRE.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("not a UTC offset: write +HH:MM or -HH:MM, such as +01:00")
	}
	h, _ := strconv.Atoi(m[2])
	mins, _ := strconv.Atoi(m[3])
	secs := (h*60 + mins) * 60
	if m[1] == "-" {
		secs = -secs
	}
	return time.FixedZone("UTC"+s, secs), nil
}

// Open reports whether the window is open at t and, if so, when this
// opening closes.
func (w *Window) Open(t time.Time) (bool, time.Time) {
	opens, closes := w.Next(t)
	if !opens.After(t) {
		return true, closes
	}
	return false, time.Time{}
}

// searchDays bounds how far ahead Next looks: beyond a year and a half of
// blackouts, a window is as good as never.
const searchDays = 550

// Next returns the first opening that is open at t or opens after it:
// when it opens (t itself, or before, when open at t) and when it closes.
// Both are zero when no window opens within searchDays.
func (w *Window) Next(t time.Time) (opens, closes time.Time) {
	if w.cron != nil {
		return w.nextCron(t)
	}
	// A window opened the day before may still be open: start there.
	today := dateOf(t, w.zone)
	for d := today.add(-1); d.days() <= today.days()+searchDays; d = d.add(1) {
		if d.days() < w.from.days() || !w.on(d) {
			continue
		}
		start := d.at(w.hour, w.minute, w.zone)
		for _, part := range w.allowed(start, start.Add(w.duration)) {
			if part[1].After(t) {
				return part[0], part[1]
			}
		}
	}
	return time.Time{}, time.Time{}
}

// nextCron is Next for a cron schedule: its times in the window's zone,
// from one that may still be open at t.
func (w *Window) nextCron(t time.Time) (opens, closes time.Time) {
	limit := t.AddDate(0, 0, searchDays)
	from := w.from.at(0, 0, w.zone)
	for start := w.cron.Next(t.Add(-w.duration).In(w.zone)); !start.IsZero() && start.Before(limit); start = w.cron.Next(start) {
		if start.Before(from) {
			continue
		}
		for _, part := range w.allowed(start, start.Add(w.duration)) {
			if part[1].After(t) {
				return part[0], part[1]
			}
		}
	}
	return time.Time{}, time.Time{}
}

// allowed cuts the blackout days out of [start, end).
func (w *Window) allowed(start, end time.Time) [][2]time.Time {
	parts := [][2]time.Time{{start, end}}
	for _, b := range w.blackout {
		from := b.first.at(0, 0, w.zone)
		to := b.last.add(1).at(0, 0, w.zone)
		var next [][2]time.Time
		for _, p := range parts {
			if !p[0].Before(to) || !p[1].After(from) {
				next = append(next, p)
				continue
			}
			if p[0].Before(from) {
				next = append(next, [2]time.Time{p[0], from})
			}
			if p[1].After(to) {
				next = append(next, [2]time.Time{to, p[1]})
			}
		}
		parts = next
	}
	return parts
}

// Describe says the window as a person would: "every 1 week(s) on Sunday
// at 02:00 UTC+01:00 for 4h".
func Describe(w v1alpha1.MaintenanceWindow) string {
	zone := "UTC" + w.UTCOffset
	if w.TimeZone != "" {
		zone = w.TimeZone
	} else if w.UTCOffset == "" {
		zone = "UTC"
	}
	var every string
	switch s := w.Schedule; {
	case s.Daily != nil:
		every = fmt.Sprintf("every %d day(s)", s.Daily.IntervalDays)
	case s.Weekly != nil:
		every = fmt.Sprintf("every %d week(s) on %s", s.Weekly.IntervalWeeks, s.Weekly.DayOfWeek)
	case s.AbsoluteMonthly != nil:
		every = fmt.Sprintf("every %d month(s) on day %d", s.AbsoluteMonthly.IntervalMonths, s.AbsoluteMonthly.DayOfMonth)
	case s.RelativeMonthly != nil:
		every = fmt.Sprintf("every %d month(s) on the %s %s", s.RelativeMonthly.IntervalMonths, strings.ToLower(s.RelativeMonthly.WeekIndex), s.RelativeMonthly.DayOfWeek)
	}
	out := fmt.Sprintf("%s at %s %s for %dh", every, w.StartTime, zone, w.DurationHours)
	if s := w.Schedule.Cron; s != "" {
		out = fmt.Sprintf("cron %q %s for %dh", s, zone, w.DurationHours)
	}
	for _, d := range w.NotAllowedDates {
		out += fmt.Sprintf(", not %s to %s", d.Start, d.End)
	}
	return out
}
