package v1alpha1

// MaintenanceWindow says when upgrade steps may start on a cluster, in the
// shape of an AKS maintenance configuration's maintenanceWindow: a
// schedule of days, a start time on those days, a duration, and blackout
// dates. A step under way when a window closes finishes, as AKS's do.
type MaintenanceWindow struct {
	// Schedule says on which days the window opens: exactly one of daily,
	// weekly, absoluteMonthly, relativeMonthly, cron.
	Schedule WindowSchedule `json:"schedule"`
	// StartTime is the time of day the window opens, "HH:MM", in the
	// window's zone (not with a cron schedule, which gives the time).
	StartTime string `json:"startTime,omitempty"`
	// DurationHours is how long the window stays open, 4 to 24, in
	// elapsed hours (a window over a DST change ends by the clock an hour
	// earlier or later).
	// +kubebuilder:validation:Minimum=4
	// +kubebuilder:validation:Maximum=24
	DurationHours int32 `json:"durationHours"`
	// UTCOffset is the window's zone as an offset, "+01:00" or "-05:30",
	// as AKS writes it. Default "+00:00". Not with timeZone.
	UTCOffset string `json:"utcOffset,omitempty"`
	// TimeZone is the window's zone as an IANA name ("Europe/Berlin"),
	// whose offset follows daylight saving time. Not with utcOffset.
	TimeZone string `json:"timeZone,omitempty"`
	// StartDate is the first day the schedule counts from, "YYYY-MM-DD":
	// the interval of a daily, weekly or monthly schedule counts from it,
	// and no window opens before it. Default 1970-01-01.
	StartDate string `json:"startDate,omitempty"`
	// NotAllowedDates are blackout ranges: no window is open on any of
	// their days, first and last included, in the window's zone.
	NotAllowedDates []DateSpan `json:"notAllowedDates,omitempty"`
}

// WindowSchedule is the days a maintenance window opens on.
type WindowSchedule struct {
	Daily           *DailySchedule           `json:"daily,omitempty"`
	Weekly          *WeeklySchedule          `json:"weekly,omitempty"`
	AbsoluteMonthly *AbsoluteMonthlySchedule `json:"absoluteMonthly,omitempty"`
	RelativeMonthly *RelativeMonthlySchedule `json:"relativeMonthly,omitempty"`
	// Cron opens the window at each time of a standard five-field cron
	// expression ("0 2 * * SUN": Sundays at 02:00), in the window's zone.
	Cron string `json:"cron,omitempty"`
}

// DailySchedule opens the window every intervalDays days.
type DailySchedule struct {
	IntervalDays int32 `json:"intervalDays"`
}

// WeeklySchedule opens the window on dayOfWeek every intervalWeeks weeks.
type WeeklySchedule struct {
	IntervalWeeks int32 `json:"intervalWeeks"`
	// DayOfWeek is Monday … Sunday.
	DayOfWeek string `json:"dayOfWeek"`
}

// AbsoluteMonthlySchedule opens the window on dayOfMonth every
// intervalMonths months; in a month without that day (the 31st of April),
// on the month's last day.
type AbsoluteMonthlySchedule struct {
	IntervalMonths int32 `json:"intervalMonths"`
	DayOfMonth     int32 `json:"dayOfMonth"`
}

// RelativeMonthlySchedule opens the window on the weekIndex dayOfWeek of
// the month (the Last Sunday) every intervalMonths months.
type RelativeMonthlySchedule struct {
	IntervalMonths int32 `json:"intervalMonths"`
	// WeekIndex is First, Second, Third, Fourth or Last.
	WeekIndex string `json:"weekIndex"`
	// DayOfWeek is Monday … Sunday.
	DayOfWeek string `json:"dayOfWeek"`
}

// DateSpan is a range of days, "YYYY-MM-DD", both included.
type DateSpan struct {
	Start string `json:"start"`
	End   string `json:"end"`
}
