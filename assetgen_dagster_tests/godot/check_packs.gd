extends SceneTree
# Loads every file of the asset packs imported under res://packs/ as a game would, plays every sprite
# animation for a while, and prints one line, "ASSETGEN_GODOT <json>", with what Godot made of each
# file; the Python test asserts on it.
# Run: godot3-server --path <project> --script res://check_packs.gd  (after an editor import)

const PLAY_MS = 1500  # long enough for every demo animation to show each of its frames
var report = {}
var players = []  # [facts, AnimatedSprite, frames seen] per SpriteFrames resource
var started = 0
var done = false


func _init():
	var dir = Directory.new()
	dir.open("res://packs")
	dir.list_dir_begin(true, true)
	var name = dir.get_next()
	while name != "":
		if dir.current_is_dir():
			report[name] = check_pack("res://packs/" + name)
		name = dir.get_next()
	started = OS.get_ticks_msec()
	if players.empty():
		finish()


func _idle(_delta):
	if done:
		return
	for player in players:
		player[2][player[1].frame] = true
	if OS.get_ticks_msec() - started > PLAY_MS:
		finish()


func finish():
	done = true
	for player in players:
		player[0]["frames_shown"] = player[2].size()
		player[0]["playing"] = player[1].playing
	print("ASSETGEN_GODOT " + to_json(report))
	quit()


func check_pack(root):
	var facts = {"props": {}, "lods": {}, "wav": {}, "ogg": {}, "textures": {}, "translations": {},
		"sprite_frames": {}, "environments": {}}
	var manifest = parse_json(read_text(root + "/manifest.json"))
	var paths = []
	for item in manifest["items"]:
		for file in item["files"]:
			paths.append(file["path"])
	for path in manifest["extra_files"]:
		paths.append(path)
	for path in paths:
		var full = root + "/" + path
		var extension = path.get_extension()
		if extension == "glb" and "_LOD" in path.get_file():
			facts["lods"][path] = scene_facts(full)
		elif extension == "glb":
			facts["props"][path] = scene_facts(full)
		elif extension == "wav":
			facts["wav"][path] = wav_facts(full)
		elif extension == "ogg":
			var stream = load(full)
			facts["ogg"][path] = null if stream == null else {"loops": stream.loop, "seconds": stream.get_length()}
		elif extension == "png":
			var texture = load(full)
			if texture == null:
				facts["textures"][path] = null
			else:
				facts["textures"][path] = {"size": [texture.get_width(), texture.get_height()],
					"repeat": texture.flags & Texture.FLAG_REPEAT != 0}
		elif extension == "csv":
			facts["translations"][path] = translation_facts(full)
		elif extension == "tres" and path.begins_with("sprites/animations/"):
			facts["sprite_frames"][path] = sprite_frames_facts(full)
		elif extension == "tres" and path.begins_with("skyboxes/"):
			facts["environments"][path] = environment_facts(full)
	return facts


func environment_facts(path):
	var environment = load(path)
	if environment == null or not environment is Environment:
		return {"loaded": false}
	var sky = environment.background_sky
	var facts = {"loaded": true, "background_is_sky": environment.background_mode == Environment.BG_SKY,
		"panorama_sky": sky is PanoramaSky, "panorama_size": null}
	if sky is PanoramaSky and sky.panorama != null:
		facts["panorama_size"] = [sky.panorama.get_width(), sky.panorama.get_height()]
	return facts


func sprite_frames_facts(path):
	# A SpriteFrames resource as a game uses it: on an AnimatedSprite in the tree, playing.
	var frames = load(path)
	if frames == null or not frames is SpriteFrames:
		return {"loaded": false}
	var name = frames.get_animation_names()[0]
	var first = frames.get_frame(name, 0)
	var facts = {"loaded": true, "animations": Array(frames.get_animation_names()),
		"frames": frames.get_frame_count(name), "speed": frames.get_animation_speed(name),
		"loop": frames.get_animation_loop(name), "frame_size": [first.get_width(), first.get_height()],
		"sheet_size": [first.atlas.get_width(), first.atlas.get_height()]}
	var sprite = AnimatedSprite.new()
	sprite.frames = frames
	get_root().add_child(sprite)
	sprite.play(name)
	players.append([facts, sprite, {}])
	return facts


func scene_facts(path):
	var scene = load(path)
	if scene == null:
		return {"loaded": false}
	var root = scene.instance()
	var meshes = nodes_of(root, "MeshInstance")
	var shapes = nodes_of(root, "CollisionShape")
	var convex = 0
	for shape in shapes:
		if shape.shape is ConvexPolygonShape and shape.get_parent() is StaticBody:
			convex += 1
	var facts = {"loaded": true, "meshes": [], "static_bodies": nodes_of(root, "StaticBody").size(),
		"shapes": shapes.size(), "convex_shapes_under_static_body": convex}
	for instance in meshes:
		facts["meshes"].append(mesh_facts(instance))
	root.free()
	return facts


func mesh_facts(instance):
	var mesh = instance.mesh
	var arrays = mesh.surface_get_arrays(0)
	var vertices = arrays[Mesh.ARRAY_VERTEX].size()
	var indices = arrays[Mesh.ARRAY_INDEX]
	var normals = arrays[Mesh.ARRAY_NORMAL]
	var uvs = arrays[Mesh.ARRAY_TEX_UV]
	var material = instance.get_surface_material(0)
	if material == null:
		material = mesh.surface_get_material(0)
	var texture = null
	if material is SpatialMaterial and material.albedo_texture != null:
		texture = [material.albedo_texture.get_width(), material.albedo_texture.get_height()]
	var triangles = vertices / 3
	if indices != null and indices.size() > 0:
		triangles = indices.size() / 3
	return {"name": instance.name, "surfaces": mesh.get_surface_count(), "vertices": vertices,
		"triangles": triangles, "normals": normals != null and normals.size() == vertices,
		"uvs": uvs != null and uvs.size() == vertices, "albedo_texture": texture}


func wav_facts(path):
	var stream = load(path)
	if stream == null:
		return {"loaded": false}
	return {"loaded": true, "loops": stream.loop_mode != AudioStreamSample.LOOP_DISABLED,
		"loop_begin": stream.loop_begin, "loop_end": stream.loop_end, "rate": stream.mix_rate,
		"stereo": stream.stereo}


func translation_facts(csv_path):
	# Godot's CSV importer writes <name>.<locale>.translation beside the table; a game registers
	# them with the TranslationServer and calls tr(key).
	var file = File.new()
	file.open(csv_path, File.READ)
	var header = file.get_csv_line()
	var keys = []
	while not file.eof_reached():
		var line = file.get_csv_line()
		if line.size() > 1:
			keys.append(line[0])
	file.close()
	var facts = {"keys": keys.size(), "locales": {}}
	for column in range(1, header.size()):
		var locale = header[column]
		var translation = load(csv_path.get_basename() + "." + locale + ".translation")
		if translation == null:
			facts["locales"][locale] = "not imported"
			continue
		TranslationServer.add_translation(translation)
		TranslationServer.set_locale(locale)
		var unresolved = 0
		for key in keys:
			if tr(key) == key or tr(key) == "":
				unresolved += 1
		facts["locales"][locale] = unresolved
		TranslationServer.remove_translation(translation)
	return facts


func nodes_of(node, type):
	var found = []
	if node.get_class() == type:
		found.append(node)
	for child in node.get_children():
		found += nodes_of(child, type)
	return found


func read_text(path):
	var file = File.new()
	file.open(path, File.READ)
	var text = file.get_as_text()
	file.close()
	return text
