package selector

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

func TestWriteLabelStudioTasks(t *testing.T) {
	picks := []Pick{{Index: 2, ID: "b", Score: 0.7}, {Index: 0, ID: "a", Score: 0.5}}
	probs := []float32{0.1, 0.9, 0.5, 0.5, 0.6, 0.2, 0.2, 0.8}
	classes := []string{"cat", "dog"}
	var buf bytes.Buffer
	err := WriteLabelStudioTasks(&buf, picks, func(id string) (string, error) { return "/data/" + id + ".png", nil }, probs[:6], classes)
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Data        map[string]string `json:"data"`
		Predictions []struct {
			ModelVersion string  `json:"model_version"`
			Score        float64 `json:"score"`
			Result       []struct {
				FromName string `json:"from_name"`
				ToName   string `json:"to_name"`
				Type     string `json:"type"`
				Value    struct {
					Choices []string `json:"choices"`
				} `json:"value"`
			} `json:"result"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	wants := []struct {
		id, img, class string
		score          float64
	}{{"b", "/data/b.png", "cat", 0.6}, {"a", "/data/a.png", "dog", 0.9}}
	if len(got) != 2 {
		t.Fatalf("%d tasks", len(got))
	}
	for k, w := range wants {
		g := got[k]
		if g.Data["asvp_id"] != w.id || g.Data["image"] != w.img {
			t.Errorf("task %d data %v", k, g.Data)
		}
		p := g.Predictions[0]
		r := p.Result[0]
		if p.ModelVersion != "asvp-proxy" || r.FromName != "label" || r.ToName != "image" || r.Type != "choices" ||
			len(r.Value.Choices) != 1 || r.Value.Choices[0] != w.class || abs(p.Score-w.score) > 1e-6 {
			t.Errorf("task %d prediction %+v", k, p)
		}
	}
	// Without probabilities: no predictions key.
	buf.Reset()
	if err := WriteLabelStudioTasks(&buf, picks, func(id string) (string, error) { return id, nil }, nil, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "predictions") {
		t.Errorf("predictions written without probabilities: %s", buf.String())
	}
	// Probabilities too short for a pick's row: an error.
	if err := WriteLabelStudioTasks(&buf, picks, func(id string) (string, error) { return id, nil }, probs[:4], classes); err == nil {
		t.Error("short probabilities accepted")
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestLabelStudioConfigFor(t *testing.T) {
	cfg := LabelStudioConfigFor([]string{"T-shirt/top", `a "b" & <c>`})
	var v struct {
		Image struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"Image"`
		Choices struct {
			Name   string `xml:"name,attr"`
			ToName string `xml:"toName,attr"`
			Choice []struct {
				Value string `xml:"value,attr"`
			} `xml:"Choice"`
		} `xml:"Choices"`
	}
	if err := xml.Unmarshal([]byte(cfg), &v); err != nil {
		t.Fatalf("%v\n%s", err, cfg)
	}
	if v.Image.Name != "image" || v.Image.Value != "$image" || v.Choices.Name != "label" || v.Choices.ToName != "image" {
		t.Errorf("config %+v", v)
	}
	if len(v.Choices.Choice) != 2 || v.Choices.Choice[1].Value != `a "b" & <c>` {
		t.Errorf("choices %+v", v.Choices.Choice)
	}
}

func TestWritePicks(t *testing.T) {
	picks := []Pick{{Index: 4, ID: "x,1", Score: 0.25}, {Index: 1, ID: "y", Score: 1e-9}}
	var buf bytes.Buffer
	if err := WritePicksCSV(&buf, picks); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"id", "score", "rank"}, {"x,1", "0.25", "1"}, {"y", "1e-09", "2"}}
	if len(recs) != 3 {
		t.Fatalf("records %v", recs)
	}
	for i := range want {
		for j := range want[i] {
			if recs[i][j] != want[i][j] {
				t.Errorf("csv[%d][%d] = %q, want %q", i, j, recs[i][j], want[i][j])
			}
		}
	}
	buf.Reset()
	if err := WritePicksJSONL(&buf, picks); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	var l pickLine
	if err := json.Unmarshal([]byte(lines[1]), &l); err != nil {
		t.Fatal(err)
	}
	if l != (pickLine{ID: "y", Index: 1, Score: 1e-9, Rank: 2}) {
		t.Errorf("line 2 = %+v", l)
	}
}
