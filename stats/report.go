package stats

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"math/big"
	"net/http"
	"time"
)

//go:embed assets/echarts.min.js assets/ECHARTS_LICENSE assets/ECHARTS_NOTICE
var assets embed.FS

//go:embed templates/report.html.tmpl
var templateFS embed.FS

var reportTemplate = template.Must(template.New("report.html.tmpl").ParseFS(templateFS, "templates/report.html.tmpl"))

// assetHandler serves the embedded chart library at /assets/ (Apache
// ECharts, from npm; license and notice beside it).
func assetHandler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	fsrv := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fsrv.ServeHTTP(w, r)
	})
}

// labels are the report page's fixed texts.
type labels struct {
	Title, Story, AI, Agents, Tickets, Charts, AgentTable, DataStatus             string
	Customers, AIRate, Response, CostSaved                                        string
	Handled, FirstResponse, HandleTime, Resolved, ResolutionTime, SLARate         string
	ChartSessions, ChartEscalations, ChartAIRate, ChartTime, ChartFirst, ChartHdl string
	ChartTickets, ChartSLA, ChartSeconds, ChartMinutes, ChartCount, ChartPercent  string
	Agent, Messages, Transfers, Online, TicketsClosed                             string
	Complete, Incomplete, Rejected, LastWritten, Never, Timezone                  string
	Today, Source, LiveRedis, LivePostgres, AsOf                                  string
	Ended, NotEnded, ReadFromStandby, StandbyNoReplay, StandbyBehind              string
}

var pageLabels = map[Lang]labels{
	LangZH: {
		Title: "客服运营月报", Story: "本月概述", AI: "AI 客服", Agents: "坐席工作台", Tickets: "工单",
		Charts: "每日趋势", AgentTable: "坐席明细", DataStatus: "数据说明",
		Customers: "服务客户", AIRate: "AI 解决率", Response: "平均响应时间", CostSaved: "节省人工成本",
		Handled: "处理会话", FirstResponse: "平均首次响应", HandleTime: "平均处理时长",
		Resolved: "解决工单", ResolutionTime: "平均解决时长", SLARate: "SLA 达标率",
		ChartSessions: "服务客户", ChartEscalations: "转人工", ChartAIRate: "AI 解决率",
		ChartTime: "坐席响应与处理时长", ChartFirst: "平均首次响应（秒）", ChartHdl: "平均处理时长（分钟）",
		ChartTickets: "解决工单", ChartSLA: "SLA 达标率", ChartSeconds: "秒", ChartMinutes: "分钟",
		ChartCount: "数量", ChartPercent: "%",
		Agent: "坐席", Messages: "消息数", Transfers: "转接", Online: "在线时长", TicketsClosed: "关闭工单",
		Complete: "本月已结束，数据完整", Incomplete: "本月尚未结束，数据截至目前", Rejected: "被拒绝未计入的事件",
		LastWritten: "数据最后写入", Never: "暂无写入记录", Timezone: "业务时区",
		Today: "今日实时", Source: "数据来源", LiveRedis: "Redis 实时计数", LivePostgres: "PostgreSQL 汇总表", AsOf: "更新于",
		Ended: "本月已结束", NotEnded: "本月尚未结束",
		ReadFromStandby: "读自备库，已回放至", StandbyNoReplay: "读自备库，启动以来尚未回放事务", StandbyBehind: "尚有已接收未回放的写入，主库数据更新",
	},
	LangEN: {
		Title: "Customer service monthly report", Story: "Summary", AI: "AI chatbot", Agents: "Agent workbench", Tickets: "Tickets",
		Charts: "Daily trends", AgentTable: "Agents", DataStatus: "About the data",
		Customers: "Customers served", AIRate: "AI resolution rate", Response: "Avg response time", CostSaved: "Labour cost saved",
		Handled: "Sessions handled", FirstResponse: "Avg first response", HandleTime: "Avg handle time",
		Resolved: "Tickets resolved", ResolutionTime: "Avg resolution time", SLARate: "SLA met rate",
		ChartSessions: "Customers served", ChartEscalations: "Escalations", ChartAIRate: "AI resolution rate",
		ChartTime: "Agent response and handle time", ChartFirst: "Avg first response (s)", ChartHdl: "Avg handle time (min)",
		ChartTickets: "Tickets resolved", ChartSLA: "SLA met rate", ChartSeconds: "s", ChartMinutes: "min",
		ChartCount: "count", ChartPercent: "%",
		Agent: "Agent", Messages: "Messages", Transfers: "Transfers", Online: "Online time", TicketsClosed: "Tickets closed",
		Complete: "The month has ended; the data is complete", Incomplete: "The month has not ended; the data is as of now",
		Rejected: "Rejected events not counted", LastWritten: "Last written", Never: "nothing written yet", Timezone: "Business time zone",
		Today: "Today, live", Source: "Source", LiveRedis: "Redis live counters", LivePostgres: "PostgreSQL rollups", AsOf: "Updated",
		Ended: "The month has ended", NotEnded: "The month has not ended",
		ReadFromStandby: "Read from a standby replayed up to", StandbyNoReplay: "Read from a standby that has replayed no transaction since it started",
		StandbyBehind: "it holds writes not replayed yet: the primary has newer numbers",
	},
}

// chartData is the daily series the page's script draws; a null is a day
// without data for that metric (a gap in the line).
type chartData struct {
	Dates         []string   `json:"dates"`
	Sessions      []int64    `json:"sessions"`
	Escalations   []int64    `json:"escalations"`
	AIRate        []*float64 `json:"ai_rate"`        // percent, one decimal
	FirstResponse []*float64 `json:"first_response"` // seconds, one decimal
	HandleTime    []*float64 `json:"handle_time"`    // minutes, one decimal
	Tickets       []int64    `json:"tickets"`
	SLARate       []*float64 `json:"sla_rate"` // percent, one decimal
}

// reportPage is the template's data.
type reportPage struct {
	Lang        Lang
	L           labels
	Period      string
	Month       string
	CS          CaseStudy
	Agents      []AgentJSON
	Chart       chartData
	LastWritten string
	// Live is today's panel, on the current month's page only (nil
	// otherwise); its script refreshes it from /api/analytics/live every
	// LivePollMS milliseconds.
	Live       *LiveJSON
	LivePollMS int64
	// Standby, StandbyAt, Behind: the numbers come from a hot standby
	// replayed up to StandbyAt (empty: no transaction replayed since it
	// started), behind its primary if Behind (then the page calls the month
	// neither complete nor "as of now").
	Standby, Behind bool
	StandbyAt       string
}

// setStatus fills the page's "about the data" lines from st.
func (p *reportPage) setStatus(st DataStatus, loc *time.Location) {
	if !st.LastWritten.IsZero() {
		p.LastWritten = formatTimestamp(st.LastWritten, loc)
	}
	if rep := st.Replica; rep.Standby {
		p.Standby, p.Behind = true, rep.Behind
		if !rep.ReplayedAt.IsZero() {
			p.StandbyAt = formatTimestamp(rep.ReplayedAt, loc)
		}
	}
}

// livePoll is how often the report's "today" panel asks
// /api/analytics/live again.
const livePoll = 5 * time.Second

// rounded returns r × scale rounded half up to one decimal, as a float.
func rounded(r *big.Rat, scale *big.Rat) *float64 {
	if r == nil {
		return nil
	}
	x := new(big.Rat).Mul(r, scale)
	n := roundHalfUp(x, 1)
	f, _ := new(big.Rat).SetFrac(n, big.NewInt(10)).Float64()
	return &f
}

func buildChart(days []dayMetrics) chartData {
	var c chartData
	pct, one, perMin := big.NewRat(100, 1), big.NewRat(1, 1), big.NewRat(1, 60)
	for _, d := range days {
		m := d.metrics
		c.Dates = append(c.Dates, d.date.Format("01-02"))
		c.Sessions = append(c.Sessions, m.AI.Sessions)
		c.Escalations = append(c.Escalations, m.AI.Escalations)
		c.AIRate = append(c.AIRate, rounded(m.AI.Rate, pct))
		c.FirstResponse = append(c.FirstResponse, rounded(m.Agent.AvgFirstResp, one))
		c.HandleTime = append(c.HandleTime, rounded(m.Agent.AvgHandle, perMin))
		c.Tickets = append(c.Tickets, m.Tickets.Resolved)
		c.SLARate = append(c.SLARate, rounded(m.Tickets.SLARate, pct))
	}
	return c
}

// report serves GET /report?month=&lang=: the headline numbers, the story,
// three charts of the month's days and the per-agent table, one HTML page
// with no external asset; for the current month also today's panel, which
// its script keeps current from /api/analytics/live without a reload.
func (h *handler) report(w http.ResponseWriter, r *http.Request) {
	p, ok := h.monthParams(w, r)
	if !ok {
		return
	}
	m, st, err := h.loadMonth(r.Context(), p.month)
	if err != nil {
		h.writeBackendError(w, r, err)
		return
	}
	rows, _, err := h.loadAgents(r.Context(), p.month)
	if err != nil {
		h.writeBackendError(w, r, err)
		return
	}
	days, _, err := h.loadDays(r.Context(), p.month.FirstDay(), p.month.Next().FirstDay().AddDate(0, 0, -1))
	if err != nil {
		h.writeBackendError(w, r, err)
		return
	}
	v := h.view(p.lang)
	page := reportPage{
		Lang:   p.lang,
		L:      pageLabels[p.lang],
		Period: FormatPeriod(p.month, p.lang),
		Month:  p.month.String(),
		CS:     v.caseStudy(m, st),
		Agents: v.agents(rows, st).Agents,
		Chart:  buildChart(days),
	}
	page.setStatus(st, h.loc)
	if now, today := h.today(); MonthOf(now, h.loc) == p.month {
		d, err := h.loadLive(r.Context(), today)
		if err != nil {
			h.writeBackendError(w, r, err)
			return
		}
		l := v.live(today, now, d)
		page.Live, page.LivePollMS = &l, livePoll.Milliseconds()
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, page); err != nil {
		writeError(w, http.StatusInternalServerError, "report template: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
	_, _ = buf.WriteTo(w)
}
