package tfjs

// NSFWJSSource is the Options.Source recorded for the MobileNetV2 of npm
// nsfwjs@4.4.0 (MIT), an ImageNet-initialised Keras MobileNetV2 whose head
// nsfwjs fine-tuned for 5 classes (Drawing, Hentai, Neutral, Porn, Sexy).
const NSFWJSSource = "nsfwjs@4.4.0 dist/models/mobilenet_v2"

// NSFWJSMobileNetV2SourceSHA256 is Model.SourceSHA256 of nsfwjs@4.4.0's
// dist/models/mobilenet_v2 (model.min.js then group1-shard1of1.min.js).
const NSFWJSMobileNetV2SourceSHA256 = "6538192f6b4d73e4d62a4828f3836cbb7418120e3edeea38adf448e75642677c"

// NSFWJSMobileNetV2ONNXSHA256 is the sha256 of the ONNX bytes that
// (*Model).ToONNX gives for nsfwjs@4.4.0's dist/models/mobilenet_v2 with
// Options{Source: NSFWJSSource} (DefaultOutputs). It changes only with
// ProducerVersion.
const NSFWJSMobileNetV2ONNXSHA256 = "656aab13da3a7fb4060e52b8e836c908d341c67d9b35951d609c24e8d3f7972b"

// KnownSource returns the Source to record for a model whose source files
// are known (NSFWJSSource for nsfwjs@4.4.0's MobileNetV2), or "".
func (m *Model) KnownSource() string {
	if m.SourceSHA256 == NSFWJSMobileNetV2SourceSHA256 {
		return NSFWJSSource
	}
	return ""
}
