package selector

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
)

// LabelStudioConfig is the Label Studio labeling configuration matching the
// tasks WriteLabelStudioTasks writes: an image shown from the task's
// data.image and single-choice classification named "label". Replace the
// {{CHOICES}} line with one <Choice value="..."/> per class, or use
// LabelStudioConfigFor.
const LabelStudioConfig = `<View>
  <Image name="image" value="$image" zoom="true"/>
  <Choices name="label" toName="image" choice="single" showInLine="true">
    {{CHOICES}}
  </Choices>
</View>
`

// LabelStudioConfigFor returns LabelStudioConfig with one choice per class.
func LabelStudioConfigFor(classes []string) string {
	var b strings.Builder
	for k, c := range classes {
		if k > 0 {
			b.WriteString("\n    ")
		}
		fmt.Fprintf(&b, `<Choice value="%s"/>`, html.EscapeString(c))
	}
	return strings.Replace(LabelStudioConfig, "{{CHOICES}}", b.String(), 1)
}

type lsChoice struct {
	Choices []string `json:"choices"`
}

type lsResult struct {
	FromName string   `json:"from_name"`
	ToName   string   `json:"to_name"`
	Type     string   `json:"type"`
	Value    lsChoice `json:"value"`
}

type lsPrediction struct {
	ModelVersion string     `json:"model_version"`
	Score        float64    `json:"score"`
	Result       []lsResult `json:"result"`
}

type lsTask struct {
	Data        map[string]string `json:"data"`
	Predictions []lsPrediction    `json:"predictions,omitempty"`
}

// WriteLabelStudioTasks writes picks as a JSON list of Label Studio tasks
// {"data":{"image":path(id),"asvp_id":id},"predictions":[...]}. When probs
// is non-nil it holds the proxy's probabilities of every pool row
// (Rows×len(classes), indexed by Pick.Index, as Predict returns), and each
// task gets a pre-annotation: the most probable class, scored with its
// probability. image maps an ID to the image URL shown to labelers.
func WriteLabelStudioTasks(w io.Writer, picks []Pick, image func(id string) (string, error), probs []float32, classes []string) error {
	c := len(classes)
	tasks := make([]lsTask, len(picks))
	for k, p := range picks {
		u, err := image(p.ID)
		if err != nil {
			return err
		}
		tasks[k] = lsTask{Data: map[string]string{"image": u, "asvp_id": p.ID}}
		if probs == nil {
			continue
		}
		if c == 0 || (p.Index+1)*c > len(probs) || p.Index < 0 {
			return fmt.Errorf("selector: label studio: no probabilities for pick %q (row %d, %d classes, %d values)", p.ID, p.Index, c, len(probs))
		}
		row := probs[p.Index*c : (p.Index+1)*c]
		top := argmax32(row)
		tasks[k].Predictions = []lsPrediction{{
			ModelVersion: "asvp-proxy",
			Score:        float64(row[top]),
			Result: []lsResult{{FromName: "label", ToName: "image", Type: "choices",
				Value: lsChoice{Choices: []string{classes[top]}}}},
		}}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tasks); err != nil {
		return fmt.Errorf("selector: label studio: %w", err)
	}
	return nil
}

// WritePicksCSV writes picks as CSV with header id,score,rank (rank 1 is the
// first pick).
func WritePicksCSV(w io.Writer, picks []Pick) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"id", "score", "rank"}); err != nil {
		return fmt.Errorf("selector: picks csv: %w", err)
	}
	for k, p := range picks {
		rec := []string{p.ID, strconv.FormatFloat(p.Score, 'g', -1, 64), strconv.Itoa(k + 1)}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("selector: picks csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("selector: picks csv: %w", err)
	}
	return nil
}

// pickLine is one line of WritePicksJSONL.
type pickLine struct {
	ID    string  `json:"id"`
	Index int     `json:"index"`
	Score float64 `json:"score"`
	Rank  int     `json:"rank"`
}

// WritePicksJSONL writes one JSON object {"id","index","score","rank"} per
// line for each pick.
func WritePicksJSONL(w io.Writer, picks []Pick) error {
	enc := json.NewEncoder(w)
	for k, p := range picks {
		if err := enc.Encode(pickLine{ID: p.ID, Index: p.Index, Score: p.Score, Rank: k + 1}); err != nil {
			return fmt.Errorf("selector: picks jsonl: %w", err)
		}
	}
	return nil
}
