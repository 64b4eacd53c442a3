package datasets

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// The same four tasks as Label Studio exports them in its three formats
// (shapes as its converter writes them: JSON-MIN and CSV hold one record per
// uncancelled annotation, one for a task without annotations, the task's
// data fields flattened, the task id as "id", the answer under the control's
// name). Task 101: two annotators disagree (Shirt later than Coat), a third
// cancelled. Task 102: no annotation. Task 103: one annotation, Bag. Task
// 104: one annotation that is cancelled (so absent from JSON-MIN and CSV).
const (
	lsJSON = `[
  {
    "id": 101,
    "data": {"image": "/data/local-files/?d=train/00001.png", "asvp_id": "train/00001"},
    "annotations": [
      {"id": 1, "was_cancelled": false, "created_at": "2024-05-01T10:00:00.000000Z", "updated_at": "2024-05-01T10:00:00.000000Z",
       "result": [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["Coat"]}}]},
      {"id": 2, "was_cancelled": false, "created_at": "2024-05-01T09:00:00.000000Z", "updated_at": "2024-05-02T08:00:00.000000Z",
       "result": [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["Shirt"]}}]},
      {"id": 3, "was_cancelled": true, "created_at": "2024-05-03T10:00:00Z", "updated_at": "2024-05-03T10:00:00Z",
       "result": [{"from_name": "label", "type": "choices", "value": {"choices": ["Bag"]}}]}
    ]
  },
  {"id": 102, "data": {"image": "x.png", "asvp_id": "train/00002"}, "annotations": []},
  {"id": 103, "data": {"image": "y.png", "asvp_id": "train/00003"},
   "annotations": [{"id": 4, "result": [{"from_name": "rating", "type": "rating", "value": {"rating": 3}}, {"from_name": "label", "type": "choices", "value": {"choices": ["Bag"]}}]}]},
  {"id": 104, "data": {"image": "z.png", "asvp_id": "train/00004"},
   "annotations": [{"id": 5, "was_cancelled": true, "result": [{"from_name": "label", "type": "choices", "value": {"choices": ["Bag"]}}]}]}
]
`
	lsJSONMin = `[
  {"image": "/data/local-files/?d=train/00001.png", "asvp_id": "train/00001", "id": 101, "label": "Shirt", "annotator": 2, "annotation_id": 2,
   "created_at": "2024-05-01T09:00:00.000000Z", "updated_at": "2024-05-02T08:00:00.000000Z", "lead_time": 3.1},
  {"image": "/data/local-files/?d=train/00001.png", "asvp_id": "train/00001", "id": 101, "label": "Coat", "annotator": 1, "annotation_id": 1,
   "created_at": "2024-05-01T10:00:00.000000Z", "updated_at": "2024-05-01T10:00:00.000000Z", "lead_time": 2.0},
  {"image": "x.png", "asvp_id": "train/00002", "id": 102, "annotator": null, "annotation_id": null, "created_at": null, "updated_at": null, "lead_time": null},
  {"image": "y.png", "asvp_id": "train/00003", "id": 103, "label": "Bag", "rating": [{"rating": 3}], "annotator": 1, "annotation_id": 4,
   "created_at": null, "updated_at": null, "lead_time": 1.5}
]
`
	lsCSV = "image,asvp_id,id,label,annotator,annotation_id,created_at,updated_at,lead_time\n" +
		"/data/local-files/?d=train/00001.png,train/00001,101,Shirt,b@x.org,2,2024-05-01T09:00:00.000000Z,2024-05-02T08:00:00.000000Z,3.1\n" +
		"/data/local-files/?d=train/00001.png,train/00001,101,Coat,a@x.org,1,2024-05-01T10:00:00.000000Z,2024-05-01T10:00:00.000000Z,2.0\n" +
		"x.png,train/00002,102,,,,,,\n" +
		"y.png,train/00003,103,Bag,a@x.org,4,,,1.5\n"
)

func TestReadLabelStudioFormats(t *testing.T) {
	for _, tc := range []struct{ format, in string }{
		{LabelStudioJSON, lsJSON}, {LabelStudioJSONMin, lsJSONMin}, {LabelStudioCSV, lsCSV},
	} {
		t.Run(tc.format, func(t *testing.T) {
			format, tasks, err := ReadLabelStudio(strings.NewReader(tc.in), "export", "")
			if err != nil {
				t.Fatal(err)
			}
			if format != tc.format {
				t.Errorf("format %q, want %q", format, tc.format)
			}
			var ids, answers []string
			for _, task := range tasks {
				ids = append(ids, task.ID)
				var a []string
				for _, ans := range task.Answers {
					a = append(a, strings.Join(ans.Choices, "+"))
				}
				slices.Sort(a) // file order differs between formats
				answers = append(answers, strings.Join(a, " "))
			}
			wantIDs := []string{"train/00001", "train/00002", "train/00003", "train/00004"}
			if tc.format != LabelStudioJSON {
				wantIDs = wantIDs[:3] // a task whose only annotation was cancelled has no record
			}
			if !slices.Equal(ids, wantIDs) || !slices.Equal(answers[:3], []string{"Coat Shirt", "", "Bag"}) {
				t.Errorf("ids %q answers %q", ids, answers)
			}
			if tasks[0].Task != "101" {
				t.Errorf("task id %q, want 101", tasks[0].Task)
			}
			// Refused by default, naming the task; settled by a policy when asked.
			_, _, err = ResolveAnswers(tasks, "", "export")
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `task 101 (asvp_id "train/00001")`) {
				t.Errorf("default resolution: %v, want a conflict naming task 101", err)
			}
			got, n, err := ResolveAnswers(tasks, ResolveLatest, "export")
			if err != nil || n != 1 || len(got) != 2 || got[0].Label != "Shirt" || got[1] != (Label{ID: "train/00003", Label: "Bag", Line: got[1].Line}) {
				t.Errorf("latest: %+v, %d conflicts, %v; want Shirt and Bag", got, n, err)
			}
		})
	}
}

func TestResolveAnswers(t *testing.T) {
	ans := func(c ...string) Answer { return Answer{Choices: c, Line: 9} }
	task := func(a ...Answer) []Annotated { return []Annotated{{ID: "a.jpg", Task: "7", Line: 3, Answers: a}} }
	for _, tc := range []struct {
		name, policy string
		tasks        []Annotated
		want         string
		err          error
		msg          string
	}{
		{name: "agree", tasks: task(ans("cat"), ans("cat")), want: "cat"},
		{name: "disagree, refused", tasks: task(ans("cat"), ans("dog")), err: ErrConflict, msg: `export:3: annotations disagree: task 7 (asvp_id "a.jpg"): "cat" by 1 annotation, "dog" by 1 annotation`},
		{name: "disagree, latest", policy: ResolveLatest, tasks: task(ans("cat"), ans("dog")), want: "dog"},
		{name: "disagree, majority", policy: ResolveMajority, tasks: task(ans("dog"), ans("cat"), ans("dog"), ans("cat"), ans("dog")), want: "dog"},
		{name: "majority tie", policy: ResolveMajority, tasks: task(ans("dog"), ans("cat")), err: ErrConflict, msg: "a tie"},
		{name: "multi-choice", policy: ResolveLatest, tasks: task(ans("cat", "dog")), err: ErrMultipleChoices, msg: `export:9: several choices in one annotation: task 7 (asvp_id "a.jpg"): one annotation chose ["cat" "dog"]`},
		{name: "unknown policy", policy: "first", tasks: task(ans("cat")), msg: `resolve "first"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := ResolveAnswers(tc.tasks, tc.policy, "export")
			if tc.msg != "" {
				if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err %v, want %v with %q", err, tc.err, tc.msg)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0].Label != tc.want {
				t.Fatalf("got %+v, %v; want %q", got, err, tc.want)
			}
		})
	}
	// Several conflicts: the first is named, the others counted.
	two := append(task(Answer{Choices: []string{"cat"}}, Answer{Choices: []string{"dog"}}),
		Annotated{ID: "b.jpg", Task: "8", Line: 5, Answers: []Answer{{Choices: []string{"x"}}, {Choices: []string{"y"}}}})
	if _, _, err := ResolveAnswers(two, "", "export"); err == nil || !strings.Contains(err.Error(), "(and 1 more tasks)") {
		t.Errorf("two conflicts: %v", err)
	}
}

func TestReadLabelStudioErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		err      error
		line     int
		msg      string
	}{
		{"not a list", `{"id": 1}`, ErrSyntax, 1, "JSON list"},
		{"bad json", "[\n{\"id\": 1, \"data\": }\n]", ErrSyntax, 2, "invalid character"},
		{"json without asvp_id", "[\n {\"id\": 9, \"data\": {\"image\": \"a.png\"}}\n]", ErrSyntax, 2, "task 1 of the list (Label Studio id 9) has no data.asvp_id"},
		{"json-min without asvp_id", "[{\"id\": 9, \"image\": \"a.png\", \"label\": \"cat\"}]", ErrSyntax, 1, "record 1 of the list has no asvp_id"},
		{"same sample on two tasks", "[{\"id\": 1, \"data\": {\"asvp_id\": \"a\"}},\n {\"id\": 2, \"data\": {\"asvp_id\": \"a\"}}]", ErrDuplicate, 2, `asvp_id "a" is already on task 1`},
		{"same sample on two json-min tasks", "[{\"id\": 1, \"asvp_id\": \"a\"},\n {\"id\": 2, \"asvp_id\": \"a\"}]", ErrDuplicate, 2, "line 1"},
		{"trailing", `[] []`, ErrSyntax, 1, "after the list"},
		{"truncated", `[{"data": {"asvp_id": "a"}}`, ErrSyntax, 1, "EOF"},
		{"empty", ``, ErrSyntax, 1, "empty file"},
		{"csv without asvp_id", "path,label\nimgs/a.jpg,cat\n", ErrSyntax, 1, `header "path,label" has no asvp_id column`},
		{"csv multi-choice unquoted", "asvp_id,id,label\na,1,{\"choices\": [\"cat\", \"dog\"]}\n", ErrSyntax, 2, "4 fields, the header has 3"},
		{"csv without the answer column", "asvp_id,id,choice\na,1,cat\n", ErrSyntax, 1, `no "label" column`},
		{"other control", `[{"id": 1, "data": {"asvp_id": "a"}, "annotations": [{"result": [{"from_name": "choice", "type": "choices", "value": {"choices": ["x"]}}]}]}]`,
			ErrSyntax, 1, `choices under ["choice"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadLabelStudio(strings.NewReader(tc.in), "e.json", "")
			var pe *ParseError
			if !errors.Is(err, tc.err) || !errors.As(err, &pe) || pe.Line != tc.line || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %v at line %d with %q", err, tc.err, tc.line, tc.msg)
			}
		})
	}
	// Another control's name is read when asked for.
	_, tasks, err := ReadLabelStudio(strings.NewReader("asvp_id,id,choice\na,1,cat\n"), "e.csv", "choice")
	if err != nil || len(tasks) != 1 || len(tasks[0].Answers) != 1 || tasks[0].Answers[0].Choices[0] != "cat" {
		t.Errorf("--from-name choice: %+v, %v", tasks, err)
	}
}

func FuzzReadLabelStudio(f *testing.F) {
	f.Add(lsJSON)
	f.Add(lsJSONMin)
	f.Add(lsCSV)
	f.Add(`[{"data": {"asvp_id": "a"}, "annotations": [{"result": [{"value": {"choices": ["x"]}}]}]}]`)
	f.Add(`[{"data": {"id": 1.5e3}}]`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, s string) {
		_, tasks, err := ReadLabelStudio(strings.NewReader(s), "fuzz", "")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("error %v is not a *ParseError with a line", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, task := range tasks {
			if task.ID == "" || seen[task.ID] || task.Line < 1 || task.Line > strings.Count(s, "\n")+1 {
				t.Fatalf("accepted bad task %+v", task)
			}
			seen[task.ID] = true
			for _, a := range task.Answers {
				if len(a.Choices) == 0 || slices.Contains(a.Choices, "") {
					t.Fatalf("empty answer in %+v", task)
				}
			}
		}
		labels, _, err := ResolveAnswers(tasks, ResolveLatest, "fuzz")
		for _, l := range labels {
			if err == nil && (l.ID == "" || l.Label == "") {
				t.Fatalf("bad label %+v", l)
			}
		}
	})
}
