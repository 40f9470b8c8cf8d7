package viewer

import "pacsd/reading"

// defaultTemplates are created with the first administrator (a fresh installation): normal
// findings for the studies township centres send most, in the wording county departments
// use. They are data, edited by administrators, not messages of the interface.
var defaultTemplates = []reading.Template{
	{Name: "胸部正位（正常）", Modality: "DX", BodyPart: "CHEST",
		Findings:   "胸廓对称，气管居中。双肺纹理清晰，走行自然，肺野内未见明显实质性病变。双肺门影不大。心影大小、形态未见异常。双侧膈面光整，肋膈角锐利。所见骨质未见明显异常。",
		Impression: "胸部正位片未见明显异常。"},
	{Name: "胸部正位（正常）", Modality: "CR", BodyPart: "CHEST",
		Findings:   "胸廓对称，气管居中。双肺纹理清晰，肺野内未见明显实质性病变。心影大小、形态未见异常。双侧膈面光整，肋膈角锐利。",
		Impression: "胸部正位片未见明显异常。"},
	{Name: "四肢关节（正常）", Modality: "DX", BodyPart: "",
		Findings:   "所摄骨骼骨质结构完整，骨皮质连续，未见明显骨折线及骨质破坏。关节间隙未见明显狭窄，关节面光整。周围软组织未见明显肿胀。",
		Impression: "所摄部位骨质未见明显异常。"},
	{Name: "腹部超声（正常）", Modality: "US", BodyPart: "ABDOMEN",
		Findings:   "肝脏大小、形态正常，包膜光整，实质回声均匀，肝内管道结构清晰。胆囊大小正常，壁光滑，腔内未见明显异常回声。胰腺、脾脏大小形态正常，回声均匀。双肾大小形态正常，集合系统未见分离。",
		Impression: "肝、胆、胰、脾、双肾超声未见明显异常。"},
	{Name: "产科超声（早孕）", Modality: "US", BodyPart: "",
		Findings:   "子宫增大，宫腔内可见妊娠囊，囊内可见卵黄囊及胚芽，可见原始心管搏动。双侧附件区未见明显异常回声。",
		Impression: "宫内早孕，胚胎存活。"},
}
