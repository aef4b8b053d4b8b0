package stats

import (
	"strings"
	"time"
)

// Story fills the seed's narrative (docs/design.md §5.2) from the numbers, sentence by
// sentence. A clause whose metric has no data is left out, a sentence with
// nothing to say is left out, and the story ends with the data status: is
// the month complete, how many records were rejected, when the data was
// last written, and, read from a hot standby, how far it has replayed. A
// standby that holds writes it has not replayed yet (Replica.Behind) is
// not said to be complete or "as of now": the primary has newer numbers.
//
// The Chinese template, with the seed's spacing (a space between a number
// and its unit in the running text):
//
//	本月 AI 客服共服务 5,420 位客户，其中 85.3% 的问题由 AI 独立解决，平均响应时间仅 1.5 秒。
//	需人工介入的 812 个会话，坐席平均 30 秒内响应，8 分钟内解决。
//	共处理 156 个工单，平均 4 小时解决，SLA 达标率 95.2%。
//	预估节省人工成本 ¥54,200。
func Story(m Metrics, st DataStatus, loc *time.Location, l Lang) string {
	if l == LangEN {
		return storyEN(m, st, loc)
	}
	return storyZH(m, st, loc)
}

func storyZH(m Metrics, st DataStatus, loc *time.Location) string {
	var b strings.Builder
	ai, ag, tk := m.AI, m.Agent, m.Tickets

	switch {
	case ai.Sessions > 0:
		b.WriteString("本月 AI 客服共服务 " + FormatCount(ai.Sessions) + " 位客户")
		if ai.Rate != nil {
			b.WriteString("，其中 " + FormatPercent(ai.Rate) + " 的问题由 AI 独立解决")
		}
		if ai.AvgResponseMS != nil {
			b.WriteString("，平均响应时间仅 " + FormatResponseTime(ai.AvgResponseMS, LangZH).Spaced())
		}
		b.WriteString("。")
	case ai.AvgResponseMS != nil:
		b.WriteString("本月 AI 客服平均响应时间 " + FormatResponseTime(ai.AvgResponseMS, LangZH).Spaced() + "。")
	}

	var clauses []string
	if ag.AvgFirstResp != nil {
		clauses = append(clauses, "坐席平均 "+FormatDuration(ag.AvgFirstResp, LangZH).Spaced()+"内响应")
	}
	if ag.AvgHandle != nil {
		c := FormatDuration(ag.AvgHandle, LangZH).Spaced() + "内解决"
		if len(clauses) == 0 {
			c = "坐席平均 " + c
		}
		clauses = append(clauses, c)
	}
	switch {
	case ag.SessionsHandled > 0:
		b.WriteString("需人工介入的 " + FormatCount(ag.SessionsHandled) + " 个会话")
		for _, c := range clauses {
			b.WriteString("，" + c)
		}
		b.WriteString("。")
	case len(clauses) > 0:
		b.WriteString(strings.Join(clauses, "，") + "。")
	}

	if tk.Resolved > 0 {
		b.WriteString("共处理 " + FormatCount(tk.Resolved) + " 个工单")
		if tk.AvgResolution != nil {
			b.WriteString("，平均 " + FormatHours(tk.AvgResolution, LangZH).Spaced() + "解决")
		}
		if tk.SLARate != nil {
			b.WriteString("，SLA 达标率 " + FormatPercent(tk.SLARate))
		}
		b.WriteString("。")
	}

	if ai.Sessions > 0 {
		b.WriteString("预估节省人工成本 " + FormatMoney(ai.CostSaved, LangZH) + "。")
	}

	if b.Len() == 0 {
		b.WriteString("本月暂无业务数据。")
	}

	// The trust footer.
	period := FormatPeriod(st.Month, LangZH)
	b.WriteString("（数据说明：")
	switch {
	case st.Replica.Behind && st.Complete:
		b.WriteString(period + "已结束") // not "complete": see the replica clause
	case st.Replica.Behind:
		b.WriteString(period + "尚未结束") // not "as of now"
	case st.Complete:
		b.WriteString(period + "已结束，数据完整")
	default:
		b.WriteString(period + "尚未结束，数据截至目前")
	}
	b.WriteString("；被拒绝未计入的事件 " + FormatCount(st.Rejected) + " 条")
	if st.LastWritten.IsZero() {
		b.WriteString("；暂无写入记录")
	} else {
		b.WriteString("；数据最后写入于 " + formatTimestamp(st.LastWritten, loc) + "（" + loc.String() + "）")
	}
	if rep := st.Replica; rep.Standby {
		if rep.ReplayedAt.IsZero() {
			b.WriteString("；读自备库，启动以来尚未回放事务")
		} else {
			b.WriteString("；读自备库，已回放至 " + formatTimestamp(rep.ReplayedAt, loc))
		}
		if rep.Behind {
			b.WriteString("，尚有已接收未回放的写入，主库数据更新")
		}
	}
	b.WriteString("。）")
	return b.String()
}

func storyEN(m Metrics, st DataStatus, loc *time.Location) string {
	var parts []string
	ai, ag, tk := m.AI, m.Agent, m.Tickets

	switch {
	case ai.Sessions > 0:
		s := "This month the AI chatbot served " + FormatCount(ai.Sessions) + plural(ai.Sessions, " customer", " customers")
		if ai.Rate != nil {
			s += "; " + FormatPercent(ai.Rate) + " of their questions were resolved by the AI alone"
		}
		if ai.AvgResponseMS != nil {
			s += ", with an average response time of just " + FormatResponseTime(ai.AvgResponseMS, LangEN).String()
		}
		parts = append(parts, s+".")
	case ai.AvgResponseMS != nil:
		parts = append(parts, "This month the AI chatbot's average response time was "+
			FormatResponseTime(ai.AvgResponseMS, LangEN).String()+".")
	}

	var clauses []string
	if ag.AvgFirstResp != nil {
		clauses = append(clauses, "agents responded within "+FormatDuration(ag.AvgFirstResp, LangEN).String()+" on average")
	}
	if ag.AvgHandle != nil {
		clauses = append(clauses, "resolved them within "+FormatDuration(ag.AvgHandle, LangEN).String())
	}
	switch {
	case ag.SessionsHandled > 0:
		s := "Of the " + FormatCount(ag.SessionsHandled) + plural(ag.SessionsHandled, " session", " sessions") + " that needed a human"
		if len(clauses) > 0 {
			s += ", " + strings.Join(clauses, " and ")
		} else {
			s = FormatCount(ag.SessionsHandled) + plural(ag.SessionsHandled, " session", " sessions") + " needed a human"
		}
		parts = append(parts, s+".")
	case ag.AvgHandle != nil:
		parts = append(parts, "Agents resolved sessions within "+FormatDuration(ag.AvgHandle, LangEN).String()+" on average.")
	case ag.AvgFirstResp != nil:
		parts = append(parts, "Agents responded within "+FormatDuration(ag.AvgFirstResp, LangEN).String()+" on average.")
	}

	if tk.Resolved > 0 {
		s := FormatCount(tk.Resolved) + plural(tk.Resolved, " ticket was", " tickets were") + " handled"
		if tk.AvgResolution != nil {
			s += ", resolved in " + FormatHours(tk.AvgResolution, LangEN).String() + " on average"
		}
		if tk.SLARate != nil {
			s += ", with an SLA attainment rate of " + FormatPercent(tk.SLARate)
		}
		parts = append(parts, s+".")
	}

	if ai.Sessions > 0 {
		parts = append(parts, "Estimated labour cost saved: "+FormatMoney(ai.CostSaved, LangEN)+".")
	}
	if len(parts) == 0 {
		parts = append(parts, "No business data this month.")
	}

	period := FormatPeriod(st.Month, LangEN)
	f := "(About the data: "
	switch {
	case st.Replica.Behind && st.Complete:
		f += period + " has ended" // not "complete": see the replica clause
	case st.Replica.Behind:
		f += period + " has not ended yet" // not "as of now"
	case st.Complete:
		f += period + " has ended and its data is complete"
	default:
		f += period + " has not ended yet; the data is as of now"
	}
	f += "; " + FormatCount(st.Rejected) + plural(st.Rejected, " rejected event was", " rejected events were") + " not counted"
	if st.LastWritten.IsZero() {
		f += "; nothing has been written yet"
	} else {
		f += "; last written " + formatTimestamp(st.LastWritten, loc) + " (" + loc.String() + ")"
	}
	if rep := st.Replica; rep.Standby {
		if rep.ReplayedAt.IsZero() {
			f += "; read from a standby that has replayed no transaction since it started"
		} else {
			f += "; read from a standby replayed up to " + formatTimestamp(rep.ReplayedAt, loc)
		}
		if rep.Behind {
			f += ", which holds writes not replayed yet: the primary has newer numbers"
		}
	}
	parts = append(parts, f+".)")
	return strings.Join(parts, " ")
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
