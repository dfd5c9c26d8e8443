"""Build tunesql's bundled sample database (``shop.sqlite``) and its hand-checked question→SQL pairs.

The database is a small, made-up shop that sells electronics, home goods, clothing, beauty, sports gear and
books through its own website, two marketplaces and a handful of retail stores, mostly in China plus a few
overseas markets. Two years of orders (2023-01-01 … 2024-12-31, a snapshot taken at the end of 2024), about
ten thousand rows in all, with foreign keys, CHECK constraints, a few NULLs, cancelled and returned orders,
a price rise in April 2024, seasonal peaks (618, Singles' Day) and skewed customers and products, so that
questions have interesting answers.

Column comments follow tunesql's SQLite convention: the table comment is ``-- text`` on the
``CREATE TABLE name (`` line, and each column's comment is ``-- text`` at the end of that column's line
(after the comma when there is one), English and Chinese separated by `` / ``.

Run from the repository root (stdlib only, no network, deterministic: two runs give byte-identical files)::

    python scripts/build_sample_db.py                  # writes src/tunesql/resources/shop.sqlite + shop_pairs.json
    python scripts/build_sample_db.py --out-dir /tmp/x # writes the same two files elsewhere

The pairs (``PAIRS`` below) were each run and their results read by hand; the build checks again that every
pair runs on the fresh database and returns at least one row, and refuses to write otherwise.
"""

# The schema keeps each column definition and its comment on one line (tunesql's comment convention), so some
# lines of SCHEMA are longer than the project's limit.
# ruff: noqa: E501

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import sys
from pathlib import Path

SEED = 20240611
DB_NAME = "shop.sqlite"
PAIRS_NAME = "shop_pairs.json"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "tunesql" / "resources"
FIRST_DAY = dt.date(2023, 1, 1)
LAST_DAY = dt.date(2024, 12, 31)
PRICE_RISE_DAY = dt.date(2024, 4, 1)

SCHEMA = """
CREATE TABLE regions ( -- Sales regions the shop serves / 销售大区
    id INTEGER PRIMARY KEY, -- Region id / 大区编号
    name TEXT NOT NULL UNIQUE, -- Region name in English / 大区英文名
    name_zh TEXT NOT NULL, -- Region name in Chinese / 大区中文名
    country TEXT NOT NULL -- Country the region is in / 所属国家
);

CREATE TABLE stores ( -- Sales channels: online shop, marketplaces and retail stores / 销售渠道与门店
    id INTEGER PRIMARY KEY, -- Store id / 门店编号
    name TEXT NOT NULL UNIQUE, -- Store name / 门店名称
    name_zh TEXT NOT NULL, -- Store name in Chinese / 门店中文名
    channel TEXT NOT NULL CHECK (channel IN ('online', 'marketplace', 'retail')), -- Channel type: online, marketplace or retail / 渠道类型
    region_id INTEGER REFERENCES regions(id), -- Region of a retail store; NULL for online channels / 所在大区（线上渠道为空）
    city TEXT, -- City of a retail store; NULL for online channels / 所在城市
    opened_date TEXT NOT NULL -- Date the store or channel opened (YYYY-MM-DD) / 开业日期
);

CREATE TABLE employees ( -- Staff, including the sales associates credited on orders / 员工
    id INTEGER PRIMARY KEY, -- Employee id / 员工编号
    name TEXT NOT NULL, -- Full name / 姓名
    title TEXT NOT NULL, -- Job title / 职位
    store_id INTEGER REFERENCES stores(id), -- Store the employee works at; NULL for head office / 所属门店（总部为空）
    manager_id INTEGER REFERENCES employees(id), -- Direct manager; NULL for the CEO / 直属上级
    hire_date TEXT NOT NULL, -- Hire date (YYYY-MM-DD) / 入职日期
    monthly_salary REAL NOT NULL CHECK (monthly_salary > 0) -- Monthly salary in CNY / 月薪（人民币元）
);

CREATE TABLE customers ( -- Registered customers / 注册客户
    id INTEGER PRIMARY KEY, -- Customer id / 客户编号
    name TEXT NOT NULL, -- Customer name / 客户姓名
    email TEXT UNIQUE, -- Email address; NULL when not given / 电子邮箱（可为空）
    city TEXT NOT NULL, -- City of residence / 所在城市
    region_id INTEGER NOT NULL REFERENCES regions(id), -- Home region / 所属大区
    birth_year INTEGER CHECK (birth_year BETWEEN 1930 AND 2010), -- Year of birth; NULL when not given / 出生年份（可为空）
    segment TEXT NOT NULL CHECK (segment IN ('consumer', 'business')), -- Customer type: consumer or business / 客户类型：个人或企业
    loyalty_tier TEXT NOT NULL CHECK (loyalty_tier IN ('bronze', 'silver', 'gold', 'platinum')), -- Membership tier / 会员等级
    signup_date TEXT NOT NULL -- Registration date (YYYY-MM-DD) / 注册日期
);

CREATE TABLE categories ( -- Product categories, two levels / 商品类目（两级）
    id INTEGER PRIMARY KEY, -- Category id / 类目编号
    name TEXT NOT NULL UNIQUE, -- Category name / 类目名称
    name_zh TEXT NOT NULL, -- Category name in Chinese / 类目中文名
    parent_id INTEGER REFERENCES categories(id) -- Parent category; NULL for a top-level category / 上级类目（顶级为空）
);

CREATE TABLE suppliers ( -- Companies the shop buys products from / 供应商
    id INTEGER PRIMARY KEY, -- Supplier id / 供应商编号
    name TEXT NOT NULL UNIQUE, -- Supplier name / 供应商名称
    country TEXT NOT NULL, -- Country the supplier is based in / 所在国家
    since_year INTEGER NOT NULL -- Year the partnership started / 合作起始年份
);

CREATE TABLE products ( -- Products in the catalogue / 商品
    id INTEGER PRIMARY KEY, -- Product id / 商品编号
    sku TEXT NOT NULL UNIQUE, -- Stock keeping unit code / 商品货号
    name TEXT NOT NULL, -- Product name / 商品名称
    name_zh TEXT NOT NULL, -- Product name in Chinese / 商品中文名
    category_id INTEGER NOT NULL REFERENCES categories(id), -- Category / 所属类目
    supplier_id INTEGER NOT NULL REFERENCES suppliers(id), -- Supplier / 供应商
    unit_price REAL NOT NULL CHECK (unit_price > 0), -- Current list price in CNY / 当前标价（人民币元）
    cost REAL NOT NULL CHECK (cost > 0), -- Purchase cost per unit in CNY / 单位进货成本（人民币元）
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)), -- 1 if still on sale, 0 if discontinued / 是否在售（1在售，0下架）
    launched_date TEXT NOT NULL -- Date the product went on sale (YYYY-MM-DD) / 上架日期
);

CREATE TABLE orders ( -- Customer orders / 客户订单
    id INTEGER PRIMARY KEY, -- Order id / 订单编号
    customer_id INTEGER NOT NULL REFERENCES customers(id), -- Who ordered / 下单客户
    store_id INTEGER NOT NULL REFERENCES stores(id), -- Store or channel the order was placed in / 下单渠道或门店
    sales_rep_id INTEGER REFERENCES employees(id), -- Employee credited with the sale; NULL when none (most online orders) / 经手员工（多数线上订单为空）
    order_date TEXT NOT NULL, -- Date the order was placed (YYYY-MM-DD) / 下单日期
    status TEXT NOT NULL CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled', 'returned')), -- Order status / 订单状态
    shipped_date TEXT, -- Date shipped; NULL if not shipped yet or cancelled / 发货日期
    delivered_date TEXT, -- Date delivered; NULL if not delivered / 签收日期
    total_amount REAL NOT NULL CHECK (total_amount >= 0), -- Sum of the order lines after discount, excluding shipping, CNY / 商品金额合计（折后，不含运费）
    shipping_fee REAL NOT NULL DEFAULT 0 CHECK (shipping_fee >= 0) -- Shipping fee charged, CNY / 运费
);

CREATE TABLE order_items ( -- Lines of each order / 订单明细
    id INTEGER PRIMARY KEY, -- Order line id / 明细编号
    order_id INTEGER NOT NULL REFERENCES orders(id), -- Order / 所属订单
    product_id INTEGER NOT NULL REFERENCES products(id), -- Product / 商品
    quantity INTEGER NOT NULL CHECK (quantity > 0), -- Units ordered / 购买数量
    unit_price REAL NOT NULL CHECK (unit_price > 0), -- Price per unit at the time of the order, CNY / 下单时单价
    discount REAL NOT NULL DEFAULT 0 CHECK (discount >= 0 AND discount < 1), -- Discount rate, 0.1 = 10% off / 折扣率（0.1表示九折）
    UNIQUE (order_id, product_id)
);

CREATE TABLE payments ( -- Payments received for orders / 订单支付记录
    id INTEGER PRIMARY KEY, -- Payment id / 支付编号
    order_id INTEGER NOT NULL REFERENCES orders(id), -- Order paid for / 对应订单
    method TEXT NOT NULL CHECK (method IN ('alipay', 'wechat_pay', 'credit_card', 'paypal', 'cash', 'gift_card')), -- Payment method / 支付方式
    amount REAL NOT NULL CHECK (amount > 0), -- Amount paid, CNY / 支付金额
    status TEXT NOT NULL CHECK (status IN ('completed', 'refunded')), -- completed, or refunded after a return or cancellation / 支付状态：已完成或已退款
    paid_at TEXT NOT NULL -- Payment time (YYYY-MM-DD HH:MM:SS) / 支付时间
);

CREATE TABLE reviews ( -- Product reviews written by customers after delivery / 商品评价
    id INTEGER PRIMARY KEY, -- Review id / 评价编号
    product_id INTEGER NOT NULL REFERENCES products(id), -- Product reviewed / 被评价商品
    customer_id INTEGER NOT NULL REFERENCES customers(id), -- Reviewer / 评价客户
    order_id INTEGER NOT NULL REFERENCES orders(id), -- Order the product came from / 来源订单
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5), -- Stars from 1 to 5 / 评分（1-5星）
    review_date TEXT NOT NULL, -- Date written (YYYY-MM-DD) / 评价日期
    comment TEXT -- Free text; NULL when the customer left only a rating / 评价内容（可为空）
);

CREATE INDEX idx_customers_region ON customers(region_id);
CREATE INDEX idx_products_category ON products(category_id);
CREATE INDEX idx_orders_customer ON orders(customer_id);
CREATE INDEX idx_orders_date ON orders(order_date);
CREATE INDEX idx_order_items_order ON order_items(order_id);
CREATE INDEX idx_order_items_product ON order_items(product_id);
CREATE INDEX idx_payments_order ON payments(order_id);
CREATE INDEX idx_reviews_product ON reviews(product_id);
"""

# --- fixed reference data -----------------------------------------------------------------------------------

REGIONS = [  # id, name, name_zh, country, cities
    (1, "East China", "华东", "China", ["Shanghai", "Hangzhou", "Nanjing", "Suzhou"]),
    (2, "North China", "华北", "China", ["Beijing", "Tianjin", "Shijiazhuang"]),
    (3, "South China", "华南", "China", ["Guangzhou", "Shenzhen", "Xiamen"]),
    (4, "Southwest China", "西南", "China", ["Chengdu", "Chongqing", "Kunming"]),
    (5, "Central China", "华中", "China", ["Wuhan", "Changsha", "Zhengzhou"]),
    (6, "Singapore", "新加坡", "Singapore", ["Singapore"]),
    (7, "US West", "美国西部", "United States", ["San Francisco", "Los Angeles", "Seattle"]),
    (8, "Germany", "德国", "Germany", ["Berlin", "Munich", "Hamburg"]),
    (9, "Northeast China", "东北", "China", ["Shenyang", "Harbin"]),  # no customers yet
]
# Share of customers per region (Northeast has none: the shop has not launched there).
REGION_WEIGHTS = {1: 30, 2: 20, 3: 20, 4: 10, 5: 8, 6: 5, 7: 4, 8: 3, 9: 0}
OVERSEAS = {6, 7, 8}

STORES = [  # id, name, name_zh, channel, region_id, city, opened_date
    (1, "Official Online Store", "官方网上商城", "online", None, None, "2019-06-01"),
    (2, "Tmall Flagship Store", "天猫旗舰店", "marketplace", None, None, "2020-03-15"),
    (3, "JD.com Store", "京东自营店", "marketplace", None, None, "2021-05-01"),
    (4, "Shanghai Nanjing Road", "上海南京路店", "retail", 1, "Shanghai", "2019-09-01"),
    (5, "Hangzhou West Lake", "杭州西湖店", "retail", 1, "Hangzhou", "2021-10-01"),
    (6, "Beijing Sanlitun", "北京三里屯店", "retail", 2, "Beijing", "2020-05-20"),
    (7, "Guangzhou Tianhe", "广州天河店", "retail", 3, "Guangzhou", "2020-11-11"),
    (8, "Shenzhen Nanshan", "深圳南山店", "retail", 3, "Shenzhen", "2022-08-08"),
    (9, "Chengdu Chunxi Road", "成都春熙路店", "retail", 4, "Chengdu", "2022-04-18"),
    (10, "Wuhan Optics Valley", "武汉光谷店", "retail", 5, "Wuhan", "2024-03-01"),
    (11, "Singapore Orchard", "新加坡乌节路店", "retail", 6, "Singapore", "2023-06-01"),
    (12, "Amazon Global Store", "亚马逊海外店", "marketplace", None, None, "2022-01-10"),
]

CATEGORIES = [  # id, name, name_zh, parent_id
    (1, "Electronics", "电子产品", None),
    (2, "Home & Kitchen", "家居厨房", None),
    (3, "Clothing", "服装", None),
    (4, "Beauty", "美妆个护", None),
    (5, "Sports & Outdoors", "运动户外", None),
    (6, "Books", "图书", None),
    (7, "Phones", "手机", 1),
    (8, "Laptops", "笔记本电脑", 1),
    (9, "Audio", "音频设备", 1),
    (10, "Accessories", "数码配件", 1),
    (11, "Cookware", "厨具", 2),
    (12, "Small Appliances", "小家电", 2),
    (13, "Bedding", "床上用品", 2),
    (14, "Men's Clothing", "男装", 3),
    (15, "Women's Clothing", "女装", 3),
    (16, "Skincare", "护肤", 4),
    (17, "Makeup", "彩妆", 4),
    (18, "Fitness", "健身", 5),
    (19, "Camping", "露营", 5),
    (20, "Toys", "玩具", None),  # no products yet
]

SUPPLIERS = [  # id, name, country, since_year
    (1, "Shenzhen Nova Tech", "China", 2019),
    (2, "Hangzhou Bright Home", "China", 2019),
    (3, "Guangzhou Silk Road Apparel", "China", 2020),
    (4, "Seoul Glow Cosmetics", "South Korea", 2021),
    (5, "Osaka Kitchenworks", "Japan", 2020),
    (6, "Taipei Precision Electronics", "China", 2021),
    (7, "Ningbo Outdoor Gear", "China", 2020),
    (8, "Beijing Readers Press", "China", 2019),
    (9, "Bavaria Audio GmbH", "Germany", 2022),
    (10, "Vietnam Textile Co", "Vietnam", 2023),  # supplies nothing yet
]

# name, name_zh, category_id, supplier_id, list price, cost ratio, popularity, quality (review bias),
# launched, active, price rose on PRICE_RISE_DAY
PRODUCTS = [
    ("Nova X5 Smartphone", "Nova X5 智能手机", 7, 1, 3999, 0.72, 6, 0.3, "2022-09-01", 1, True),
    ("Nova X5 Pro Smartphone", "Nova X5 Pro 智能手机", 7, 1, 5499, 0.70, 4, 0.4, "2022-09-01", 1, True),
    ("Lumen A2 Smartphone", "Lumen A2 智能手机", 7, 6, 1599, 0.78, 5, 0.0, "2022-03-01", 1, False),
    ("Lumen A2 Lite Smartphone", "Lumen A2 青春版手机", 7, 6, 999, 0.80, 4, -0.6, "2021-06-01", 0, False),
    ("Orbit Fold 2 Smartphone", "Orbit Fold 2 折叠屏手机", 7, 1, 8999, 0.68, 1.5, 0.2, "2023-08-01", 1, False),
    ("Nova X6 Smartphone", "Nova X6 智能手机", 7, 1, 4299, 0.72, 0, 0.0, "2024-12-28", 1, False),
    ("AirBook 14 Laptop", "AirBook 14 笔记本", 8, 6, 6499, 0.75, 3, 0.4, "2022-06-01", 1, True),
    ("AirBook 16 Pro Laptop", "AirBook 16 Pro 笔记本", 8, 6, 10999, 0.72, 1.5, 0.5, "2023-03-01", 1, True),
    ("WorkMate 15 Laptop", "WorkMate 15 商务笔记本", 8, 6, 4599, 0.78, 2.5, 0.0, "2021-09-01", 1, False),
    ("GameForce G7 Laptop", "GameForce G7 游戏本", 8, 1, 8499, 0.74, 1.5, 0.1, "2023-01-15", 1, False),
    ("SoundBuds Pro Earbuds", "SoundBuds Pro 降噪耳机", 9, 1, 899, 0.55, 9, 0.5, "2022-10-01", 1, True),
    ("SoundBuds Lite Earbuds", "SoundBuds Lite 蓝牙耳机", 9, 1, 299, 0.50, 10, -0.2, "2022-01-01", 1, False),
    ("BassBox Bluetooth Speaker", "BassBox 蓝牙音箱", 9, 9, 459, 0.52, 5, 0.3, "2022-05-01", 1, False),
    ("StudioOne Headphones", "StudioOne 头戴式耳机", 9, 9, 1299, 0.58, 3, 0.7, "2023-02-01", 1, True),
    ("MiniPod Speaker", "MiniPod 迷你音箱", 9, 1, 199, 0.55, 4, -0.8, "2021-03-01", 0, False),
    ("USB-C Fast Charger 65W", "65W USB-C 快充充电器", 10, 1, 149, 0.40, 14, 0.2, "2021-01-01", 1, False),
    ("Braided USB-C Cable 2m", "2米编织USB-C数据线", 10, 1, 39, 0.30, 16, 0.1, "2021-01-01", 1, False),
    ("Power Bank 20000mAh", "20000毫安充电宝", 10, 6, 199, 0.45, 11, 0.0, "2021-05-01", 1, False),
    ("Clear Phone Case", "透明手机壳", 10, 1, 59, 0.25, 12, -0.3, "2021-01-01", 1, False),
    ("Wireless Mouse", "无线鼠标", 10, 6, 129, 0.42, 8, 0.2, "2021-01-01", 1, False),
    ("Mechanical Keyboard K8", "K8 机械键盘", 10, 6, 499, 0.50, 4, 0.6, "2022-07-01", 1, True),
    ("Screen Protector 2-Pack", "钢化膜两片装", 10, 1, 49, 0.20, 10, -0.1, "2021-01-01", 1, False),
    ("Cast Iron Skillet 28cm", "28厘米铸铁煎锅", 11, 5, 329, 0.48, 4, 0.6, "2021-04-01", 1, False),
    ("Nonstick Wok 32cm", "32厘米不粘炒锅", 11, 2, 259, 0.45, 6, 0.1, "2021-04-01", 1, False),
    ("Chef Knife 20cm", "20厘米主厨刀", 11, 5, 399, 0.42, 3, 0.8, "2022-02-01", 1, True),
    ("Stainless Pot Set 5pc", "不锈钢锅具五件套", 11, 5, 899, 0.55, 2, 0.3, "2022-09-01", 1, False),
    ("Rice Cooker 4L", "4升电饭煲", 12, 2, 599, 0.55, 5, 0.4, "2021-01-01", 1, False),
    ("Air Fryer 5.5L", "5.5升空气炸锅", 12, 2, 499, 0.52, 9, 0.5, "2022-03-01", 1, True),
    ("Electric Kettle 1.7L", "1.7升电热水壶", 12, 2, 179, 0.45, 7, 0.1, "2021-01-01", 1, False),
    ("Barista Espresso Machine", "咖啡师意式咖啡机", 12, 5, 2899, 0.62, 1.5, 0.2, "2023-04-01", 1, True),
    ("Robot Vacuum S8", "S8 扫地机器人", 12, 2, 2499, 0.60, 3, -0.4, "2022-11-01", 1, False),
    ("Soy Milk Maker", "豆浆机", 12, 2, 399, 0.50, 3, 0.0, "2021-06-01", 1, False),
    ("Silk Pillowcase", "真丝枕套", 13, 3, 269, 0.40, 4, 0.5, "2022-01-01", 1, False),
    ("Down Duvet Queen", "羽绒被（双人）", 13, 3, 1299, 0.55, 2, 0.3, "2021-10-01", 1, True),
    ("Cotton Sheet Set Queen", "纯棉床品四件套", 13, 3, 459, 0.45, 4, 0.1, "2021-10-01", 1, False),
    ("Men's Down Jacket", "男士羽绒服", 14, 3, 899, 0.45, 5, 0.3, "2022-10-01", 1, True),
    ("Men's Oxford Shirt", "男士牛津纺衬衫", 14, 3, 229, 0.40, 6, 0.1, "2021-03-01", 1, False),
    ("Men's Chino Pants", "男士休闲裤", 14, 3, 259, 0.40, 5, 0.0, "2021-03-01", 1, False),
    ("Men's Wool Sweater", "男士羊毛衫", 14, 3, 499, 0.45, 3, 0.2, "2022-09-01", 1, False),
    ("Women's Cashmere Scarf", "女士羊绒围巾", 15, 3, 599, 0.42, 4, 0.7, "2022-09-01", 1, True),
    ("Women's Trench Coat", "女士风衣", 15, 3, 1199, 0.48, 2.5, 0.4, "2022-02-01", 1, False),
    ("Women's Silk Blouse", "女士真丝衬衫", 15, 3, 459, 0.44, 4, 0.2, "2022-03-01", 1, False),
    ("Women's Yoga Leggings", "女士瑜伽裤", 15, 3, 199, 0.35, 8, 0.3, "2021-03-01", 1, False),
    ("Hydrating Serum 30ml", "30毫升补水精华", 16, 4, 329, 0.30, 7, 0.5, "2021-05-01", 1, True),
    ("Sunscreen SPF50 50ml", "SPF50 防晒霜50毫升", 16, 4, 139, 0.32, 9, 0.2, "2021-05-01", 1, False),
    ("Night Repair Cream 50ml", "50毫升夜间修护霜", 16, 4, 589, 0.30, 4, 0.6, "2022-02-01", 1, True),
    ("Facial Cleanser 150ml", "150毫升洁面乳", 16, 4, 89, 0.30, 9, 0.0, "2021-05-01", 1, False),
    ("Sheet Mask 10-Pack", "面膜十片装", 16, 4, 99, 0.28, 10, -0.2, "2021-05-01", 1, False),
    ("Matte Lipstick", "哑光口红", 17, 4, 189, 0.30, 7, 0.4, "2021-08-01", 1, False),
    ("Cushion Foundation", "气垫粉底", 17, 4, 299, 0.32, 5, 0.1, "2022-04-01", 1, False),
    ("Eyeshadow Palette 12", "十二色眼影盘", 17, 4, 259, 0.30, 3, 0.3, "2022-04-01", 1, False),
    ("Adjustable Dumbbells 20kg", "20公斤可调节哑铃", 18, 7, 1299, 0.55, 2, 0.4, "2022-01-01", 1, False),
    ("Yoga Mat 6mm", "6毫米瑜伽垫", 18, 7, 159, 0.35, 7, 0.3, "2021-01-01", 1, False),
    ("Smart Jump Rope", "智能跳绳", 18, 7, 129, 0.40, 4, -0.3, "2022-06-01", 1, False),
    ("Fitness Tracker Band 7", "运动手环7", 18, 1, 249, 0.50, 8, 0.2, "2022-08-01", 1, False),
    ("Two-Person Tent", "双人帐篷", 19, 7, 699, 0.50, 3, 0.5, "2022-03-01", 1, False),
    ("Sleeping Bag -5C", "零下5度睡袋", 19, 7, 399, 0.48, 2.5, 0.3, "2022-03-01", 1, False),
    ("Camping Lantern", "露营灯", 19, 7, 129, 0.40, 4, 0.2, "2022-03-01", 1, False),
    ("Folding Camp Chair", "折叠露营椅", 19, 7, 189, 0.42, 3, 0.0, "2022-03-01", 1, False),
    ("The Art of SQL", "SQL的艺术", 6, 8, 89, 0.50, 3, 0.8, "2021-01-01", 1, False),
    ("Python Data Analysis", "Python数据分析", 6, 8, 119, 0.50, 4, 0.5, "2021-01-01", 1, False),
    ("The Three-Body Problem Box Set", "三体（全三册）", 6, 8, 168, 0.55, 6, 0.9, "2021-01-01", 1, False),
    ("Cooking for Everyone", "家常菜谱大全", 6, 8, 79, 0.50, 3, 0.2, "2021-01-01", 1, False),
    ("Travel Guide: Yunnan", "云南旅行指南", 6, 8, 69, 0.50, 2, 0.0, "2021-01-01", 1, False),
    ("Smart Air Purifier P3", "P3 智能空气净化器", 12, 2, 1599, 0.60, 0, 0.0, "2024-12-20", 1, False),
]
DISCONTINUED_AFTER = dt.date(2023, 12, 31)  # inactive products sold only until then

SURNAMES = [("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
            ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
            ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"),
            ("高", "gao"), ("罗", "luo"), ("郑", "zheng"), ("梁", "liang")]
SURNAME_WEIGHTS = [12, 12, 11, 9, 8, 6, 5, 5, 4, 4, 3, 3, 3, 3, 3, 2, 2, 3, 2, 2, 2, 2]
GIVEN = [("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
         ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"),
         ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀英", "xiuying"),
         ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("桂英", "guiying"), ("晨", "chen"), ("欣怡", "xinyi"),
         ("子涵", "zihan"), ("浩然", "haoran"), ("宇轩", "yuxuan"), ("雨桐", "yutong"), ("思远", "siyuan"),
         ("佳琪", "jiaqi"), ("志强", "zhiqiang"), ("婷", "ting")]
FIRST_NAMES = ["James", "Mary", "John", "Linda", "Michael", "Sarah", "David", "Emma", "Daniel", "Olivia",
               "Lukas", "Anna", "Felix", "Lena", "Wei Ming", "Hui Min", "Jun Jie", "Mei Ling", "Ethan",
               "Sophia", "Noah", "Chloe", "Jonas", "Mia"]
LAST_NAMES = ["Smith", "Johnson", "Brown", "Garcia", "Miller", "Tan", "Lim", "Ng", "Lee", "Wong",
              "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Nguyen", "Chen", "Davis", "Wilson",
              "Koh"]
CN_EMAIL_DOMAINS = ["qq.com", "163.com", "126.com", "sina.com", "outlook.com"]
INTL_EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com"]

REVIEW_TEXTS = {
    5: ["Excellent, exactly as described.", "非常好用，推荐！", "Great value for money.", "质量很好，物流也快。",
        "Would buy again."],
    4: ["Good product, fast delivery.", "整体不错，包装完好。", "Works well, minor issues.", "性价比高。"],
    3: ["It's okay.", "一般般，还行。", "Average quality for the price.", "Packaging was damaged."],
    2: ["Not great, stopped working properly after a month.", "和描述有差距。", "Disappointed with quality."],
    1: ["Broke after a week.", "质量太差，已退货。", "Do not buy.", "Terrible, asked for a refund."],
}


def _day_weight(day: dt.date) -> float:
    """Relative order volume on a day: growth, weekends, festivals, Spring Festival dip."""
    t = (day - FIRST_DAY).days / (LAST_DAY - FIRST_DAY).days
    w = 1.0 + 0.45 * t
    if day.weekday() >= 5:
        w *= 1.3
    md = (day.month, day.day)
    if (11, 1) <= md <= (11, 11):
        w *= 2.0 if md != (11, 11) else 7.0
    elif (6, 1) <= md <= (6, 18):
        w *= 1.6 if md != (6, 18) else 4.0
    elif day.month == 12:
        w *= 1.3
    elif (day.year == 2023 and dt.date(2023, 1, 18) <= day <= dt.date(2023, 1, 28)) or (
        day.year == 2024 and dt.date(2024, 2, 6) <= day <= dt.date(2024, 2, 16)
    ):
        w *= 0.35
    return w


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _rand_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _cn_name(rng: random.Random) -> tuple[str, str]:
    sur = rng.choices(SURNAMES, SURNAME_WEIGHTS)[0]
    given = rng.choice(GIVEN)
    return sur[0] + given[0], f"{given[1]}.{sur[1]}"


def generate(rng: random.Random) -> dict[str, list[tuple]]:
    """All rows of every table, in insertion order."""
    data: dict[str, list[tuple]] = {}
    data["regions"] = [r[:4] for r in REGIONS]
    data["stores"] = list(STORES)
    data["categories"] = list(CATEGORIES)
    data["suppliers"] = list(SUPPLIERS)

    # Products: the list price is today's; before PRICE_RISE_DAY the marked ones cost ~8% less.
    products = []
    old_price: dict[int, float] = {}
    for i, p in enumerate(PRODUCTS, start=1):
        name, name_zh, cat, sup, price, ratio, _pop, _q, launched, active, rose = p
        cost = round(price * ratio, 2)
        prefix = {1: "EL", 2: "HK", 3: "CL", 4: "BT", 5: "SP", 6: "BK"}[
            next(c[3] or c[0] for c in CATEGORIES if c[0] == cat)]
        products.append((i, f"{prefix}-{1000 + i * 7}", name, name_zh, cat, sup, float(price), cost, active,
                         launched))
        old_price[i] = float(round(price * 0.92 / 10) * 10 - 1) if rose else float(price)
    data["products"] = products

    # Employees: CEO, e-commerce lead, one manager and 2-3 associates per retail store, online service staff.
    employees: list[tuple] = []

    def add_emp(title: str, store: int | None, manager: int | None, hired: dt.date, salary: float) -> int:
        eid = len(employees) + 1
        if store == 11 or (store is None and title == "Overseas Channel Manager"):
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        else:
            name = _cn_name(rng)[0]
        employees.append((eid, name, title, store, manager, hired.isoformat(), salary))
        return eid

    ceo = add_emp("Chief Executive Officer", None, None, dt.date(2019, 3, 1), 68000.0)
    ecom = add_emp("Head of E-commerce", None, ceo, dt.date(2019, 5, 6), 42000.0)
    add_emp("Overseas Channel Manager", None, ecom, dt.date(2021, 11, 15), 36000.0)
    for sid in (1, 2, 3):
        for _ in range(2):
            add_emp("Customer Service Specialist", sid, ecom, _rand_date(rng, dt.date(2019, 6, 1),
                                                                          dt.date(2023, 6, 30)),
                    float(rng.randrange(7000, 11000, 100)))
    reps_by_store: dict[int, list[tuple[int, dt.date]]] = {}
    for sid, *_rest, opened in STORES:
        if sid not in (4, 5, 6, 7, 8, 9, 10, 11):
            continue
        opened_d = dt.date.fromisoformat(opened)
        hired = max(opened_d - dt.timedelta(days=30), dt.date(2019, 8, 1))
        mgr = add_emp("Store Manager", sid, ceo, hired, float(rng.randrange(18000, 26000, 500)))
        reps = [(mgr, hired)]
        n = 3 if sid in (4, 6, 7) else 2
        for k in range(n):
            h = hired if k == 0 else _rand_date(rng, hired, dt.date(2024, 6, 30))
            eid = add_emp("Sales Associate", sid, mgr, h, float(rng.randrange(6500, 10500, 100)))
            reps.append((eid, h))
        reps_by_store[sid] = reps
    data["employees"] = employees

    # Customers, with a skewed "how much they buy" weight.
    customers = []
    cust_weight: dict[int, float] = {}
    emails_seen: dict[str, int] = {}
    region_ids = [r[0] for r in REGIONS]
    for cid in range(1, 301):
        region = rng.choices(region_ids, [REGION_WEIGHTS[r] for r in region_ids])[0]
        cities = REGIONS[region - 1][4]
        city = cities[0] if rng.random() < 0.5 else rng.choice(cities)
        if region in OVERSEAS:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{first} {last}"
            local = f"{first.split()[0].lower()}.{last.lower().replace('ü', 'ue')}"
            domain = rng.choice(INTL_EMAIL_DOMAINS)
        else:
            name, local = _cn_name(rng)
            domain = rng.choice(CN_EMAIL_DOMAINS)
        n = emails_seen.get(local + domain, 0)
        emails_seen[local + domain] = n + 1
        email = None if rng.random() < 0.06 else f"{local}{n if n else ''}@{domain}"
        segment = "business" if rng.random() < 0.15 else "consumer"
        birth_year = None if rng.random() < 0.12 else rng.randint(1955, 2005)
        # Signups: a base of older customers, steady growth, some arrive in Dec 2024 and have not ordered.
        r = rng.random()
        if r < 0.35:
            signup = _rand_date(rng, dt.date(2020, 1, 1), dt.date(2022, 12, 31))
        elif r < 0.95:
            signup = _rand_date(rng, dt.date(2023, 1, 1), dt.date(2024, 11, 30))
        else:
            signup = _rand_date(rng, dt.date(2024, 12, 1), dt.date(2024, 12, 31))
        weight = min(rng.paretovariate(1.4), 9.0) * (2.0 if segment == "business" else 1.0)
        cust_weight[cid] = weight
        tier = ("platinum" if weight > 6 else "gold" if weight > 2.5 else "silver" if weight > 1.4
                else "bronze")
        if rng.random() < 0.1:
            tier = rng.choice(["bronze", "silver", "gold"])
        customers.append((cid, name, email, city, region, birth_year, segment, tier, signup.isoformat()))
    data["customers"] = customers
    signup_of = {c[0]: dt.date.fromisoformat(c[8]) for c in customers}
    region_of = {c[0]: c[4] for c in customers}
    city_of = {c[0]: c[3] for c in customers}

    # Orders.
    days = _days(FIRST_DAY, LAST_DAY)
    day_w = [_day_weight(d) for d in days]
    order_days = sorted(rng.choices(days, day_w, k=2000))
    prod_pop = [p[6] for p in PRODUCTS]
    orders, items, payments, reviews = [], [], [], []
    store_open = {s[0]: dt.date.fromisoformat(s[6]) for s in STORES}
    retail_by_region: dict[int, list[int]] = {}
    for s in STORES:
        if s[3] == "retail":
            retail_by_region.setdefault(s[4], []).append(s[0])
    store_city = {s[0]: s[5] for s in STORES}
    active_cids = [c for c in cust_weight if signup_of[c] < dt.date(2024, 12, 1) or rng.random() < 0.3]
    for oid, day in enumerate(order_days, start=1):
        eligible = [c for c in active_cids if signup_of[c] <= day]
        cid = rng.choices(eligible, [cust_weight[c] for c in eligible])[0]
        region = region_of[cid]
        # Channel.
        if region in OVERSEAS:
            options = [(1, 4), (12, 5)] + [(s, 6) for s in retail_by_region.get(region, [])
                                            if store_open[s] <= day]
        else:
            options = [(1, 5), (2, 7), (3, 4)]
            local = [s for s in retail_by_region.get(region, []) if store_open[s] <= day]
            for s in local:
                options.append((s, 6 if store_city[s] == city_of[cid] else 1.5))
        store = rng.choices([o[0] for o in options], [o[1] for o in options])[0]
        retail = STORES[store - 1][3] == "retail"
        rep = None
        if retail:
            reps = [e for e, hired in reps_by_store[store] if hired <= day]
            rep = rng.choice(reps)
        elif store == 1 and rng.random() < 0.08:
            staff = [e[0] for e in employees if e[3] == 1 and dt.date.fromisoformat(e[5]) <= day]
            rep = rng.choice(staff) if staff else None  # service staff closed a phone sale
        # Status and dates.
        r = rng.random()
        if day < dt.date(2024, 12, 10):
            status = "delivered" if r < 0.86 else "cancelled" if r < 0.94 else "returned"
        elif day < dt.date(2024, 12, 24):
            status = "delivered" if r < 0.5 else "shipped" if r < 0.9 else "cancelled"
        else:
            status = "pending" if r < 0.4 else "shipped" if r < 0.85 else "cancelled"
        shipped = delivered = None
        if status in ("shipped", "delivered", "returned"):
            shipped_d = day if retail else day + dt.timedelta(days=rng.choice([0, 1, 1, 1, 2, 2, 3]))
            shipped_d = min(shipped_d, LAST_DAY)
            shipped = shipped_d.isoformat()
            if status != "shipped":
                extra = 0 if retail else rng.choice([1, 2, 2, 3, 3, 4, 5, 7]) + (4 if region in OVERSEAS else 0)
                delivered = min(shipped_d + dt.timedelta(days=extra), LAST_DAY).isoformat()
        # Lines.
        n_lines = rng.choices([1, 2, 3, 4, 5], [25, 30, 25, 12, 8])[0]
        festival = ((11, 1) <= (day.month, day.day) <= (11, 11)) or (day.month == 6 and day.day <= 18)
        chosen: list[int] = []
        while len(chosen) < n_lines:
            weights = []
            for i, p in enumerate(PRODUCTS):
                launched = dt.date.fromisoformat(p[8])
                ok = launched <= day and (p[9] == 1 or day <= DISCONTINUED_AFTER)
                weights.append(prod_pop[i] if ok else 0)
            pid = rng.choices(range(1, len(PRODUCTS) + 1), weights)[0]
            if pid not in chosen:
                chosen.append(pid)
        total = 0.0
        for pid in chosen:
            price = old_price[pid] if day < PRICE_RISE_DAY else float(PRODUCTS[pid - 1][4])
            qty = rng.choices([1, 2, 3, 4, 5], [70, 18, 7, 3, 2] if price < 300 else [92, 7, 1, 0, 0])[0]
            if festival:
                disc = rng.choices([0.0, 0.05, 0.1, 0.15, 0.2], [25, 15, 30, 15, 15])[0]
            else:
                disc = rng.choices([0.0, 0.05, 0.1, 0.15, 0.2], [70, 12, 12, 4, 2])[0]
            items.append((len(items) + 1, oid, pid, qty, price, disc))
            total += round(qty * price * (1 - disc), 2)
        total = round(total, 2)
        if retail:
            fee = 0.0
        elif region in OVERSEAS:
            fee = 0.0 if total >= 1000 else 60.0
        else:
            fee = 0.0 if total >= 99 else 10.0
        orders.append((oid, cid, store, rep, day.isoformat(), status, shipped, delivered, total, fee))
        # Payments.
        paid = status in ("shipped", "delivered", "returned") or (status == "cancelled" and rng.random() < 0.3)
        if paid:
            due = round(total + fee, 2)
            if region in OVERSEAS:
                method = rng.choices(["credit_card", "paypal"], [6, 4])[0]
            elif retail:
                method = rng.choices(["alipay", "wechat_pay", "credit_card", "cash"], [4, 4, 2, 1])[0]
            else:
                method = rng.choices(["alipay", "wechat_pay", "credit_card"], [5, 4, 1])[0]
            pstatus = "completed" if status in ("shipped", "delivered") else "refunded"
            secs = rng.randint(8 * 3600, 23 * 3600 + 59 * 60)
            stamp = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=secs)
            if due > 200 and rng.random() < 0.07:
                gift = float(rng.choice([50, 100, 200]))
                payments.append((len(payments) + 1, oid, "gift_card", gift, pstatus,
                                 stamp.strftime("%Y-%m-%d %H:%M:%S")))
                due = round(due - gift, 2)
                stamp += dt.timedelta(seconds=rng.randint(5, 90))
            payments.append((len(payments) + 1, oid, method, due, pstatus, stamp.strftime("%Y-%m-%d %H:%M:%S")))
        # Reviews.
        if status == "delivered":
            ddate = dt.date.fromisoformat(delivered)
            for pid in chosen:
                if rng.random() < 0.17:
                    quality = PRODUCTS[pid - 1][7]
                    score = 4.0 + quality + rng.gauss(0, 0.9)
                    rating = max(1, min(5, round(score)))
                    rdate = ddate + dt.timedelta(days=rng.randint(0, 20))
                    if rdate > LAST_DAY:
                        continue
                    comment = rng.choice(REVIEW_TEXTS[rating]) if rng.random() < 0.65 else None
                    reviews.append((len(reviews) + 1, pid, cid, oid, rating, rdate.isoformat(), comment))
    data["orders"] = orders
    data["order_items"] = items
    data["payments"] = payments
    data["reviews"] = reviews
    return data


# --- question → SQL pairs -----------------------------------------------------------------------------------

def _pair(n: int, difficulty: str, question: str, question_zh: str, sql: str) -> dict[str, str]:
    return {"id": f"shop-{n:03d}", "question": question, "question_zh": question_zh,
            "sql": " ".join(sql.split()), "difficulty": difficulty}


# Conventions the questions rely on: "sales"/"revenue" is orders.total_amount (after discount, without shipping);
# money is CNY; the data ends on 2024-12-31. Each SQL was run and its result read against the question.
PAIRS: list[dict[str, str]] = [
    # --- easy: one table, filters, counts ---
    _pair(0, "easy", "How many customers do we have?", "我们一共有多少客户？",
          "SELECT COUNT(*) FROM customers"),
    _pair(1, "easy", "How many orders were cancelled?", "有多少订单被取消了？",
          "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'"),
    _pair(2, "easy", "Which products are no longer on sale? Show their names and list prices.",
          "哪些商品已经下架？列出名称和标价。",
          "SELECT name, unit_price FROM products WHERE active = 0"),
    _pair(3, "easy", "List the names and emails of customers who live in Hangzhou.",
          "列出住在杭州的客户的姓名和邮箱。",
          "SELECT name, email FROM customers WHERE city = 'Hangzhou'"),
    _pair(4, "easy", "What is our most expensive product and what does it cost?",
          "最贵的商品是哪个？价格是多少？",
          "SELECT name, unit_price FROM products ORDER BY unit_price DESC LIMIT 1"),
    _pair(5, "easy", "How many customers have not given us an email address?", "有多少客户没有留邮箱？",
          "SELECT COUNT(*) FROM customers WHERE email IS NULL"),
    _pair(6, "easy", "What is the average list price of the products currently on sale?",
          "在售商品的平均标价是多少？",
          "SELECT AVG(unit_price) FROM products WHERE active = 1"),
    _pair(7, "easy", "List our retail stores with their city and opening date, newest first.",
          "按开业时间从新到旧列出所有实体门店及其城市和开业日期。",
          "SELECT name, city, opened_date FROM stores WHERE channel = 'retail' ORDER BY opened_date DESC"),
    _pair(8, "easy", "Which products cost less than 100 yuan? Cheapest first.",
          "哪些商品价格低于100元？按价格从低到高排列。",
          "SELECT name, unit_price FROM products WHERE unit_price < 100 ORDER BY unit_price"),
    _pair(9, "easy", "What are the top-level product categories?", "有哪些一级商品类目？",
          "SELECT name FROM categories WHERE parent_id IS NULL"),
    _pair(10, "easy", "How many reviews left only a star rating without any comment?",
          "有多少条评价只打了分、没有写评论？",
          "SELECT COUNT(*) FROM reviews WHERE comment IS NULL"),
    _pair(11, "easy", "How many orders were placed in December 2024?", "2024年12月有多少订单？",
          "SELECT COUNT(*) FROM orders WHERE order_date BETWEEN '2024-12-01' AND '2024-12-31'"),
    # --- medium: GROUP BY / HAVING, two-table joins, simple subqueries ---
    _pair(12, "medium", "How many customers are there in each loyalty tier?", "每个会员等级各有多少客户？",
          "SELECT loyalty_tier, COUNT(*) AS customers FROM customers GROUP BY loyalty_tier"),
    _pair(13, "medium", "How many orders came through each type of sales channel?",
          "每种渠道类型（线上、平台、门店）各有多少订单？",
          """SELECT s.channel, COUNT(*) AS orders FROM orders AS o JOIN stores AS s ON o.store_id = s.id
             GROUP BY s.channel ORDER BY orders DESC"""),
    _pair(14, "medium", "What was the revenue from delivered orders in each year?",
          "每年已签收订单的销售额是多少？",
          """SELECT strftime('%Y', order_date) AS year, ROUND(SUM(total_amount), 2) AS revenue FROM orders
             WHERE status = 'delivered' GROUP BY year ORDER BY year"""),
    _pair(15, "medium", "How many customers does each region have? Show the region name, largest first.",
          "每个大区有多少客户？显示大区名称，按客户数从多到少。",
          """SELECT r.name, COUNT(*) AS customers FROM customers AS c JOIN regions AS r ON c.region_id = r.id
             GROUP BY r.id, r.name ORDER BY customers DESC"""),
    _pair(16, "medium", "Which payment method do customers use most often?", "客户最常用哪种支付方式？",
          "SELECT method, COUNT(*) AS payments FROM payments GROUP BY method ORDER BY payments DESC LIMIT 1"),
    _pair(17, "medium", "Which customers have placed more than 30 orders, and how many?",
          "哪些客户下单超过30次？各下了多少单？",
          """SELECT c.name, COUNT(*) AS orders FROM customers AS c JOIN orders AS o ON o.customer_id = c.id
             GROUP BY c.id, c.name HAVING COUNT(*) > 30 ORDER BY orders DESC"""),
    _pair(18, "medium", "How many orders did we get in each month of 2024?", "2024年每个月各有多少订单？",
          """SELECT strftime('%m', order_date) AS month, COUNT(*) AS orders FROM orders
             WHERE strftime('%Y', order_date) = '2024' GROUP BY month ORDER BY month"""),
    _pair(19, "medium", "Which employees work at the Beijing Sanlitun store, and what are their titles?",
          "北京三里屯店有哪些员工？职位是什么？",
          """SELECT e.name, e.title FROM employees AS e JOIN stores AS s ON e.store_id = s.id
             WHERE s.name = 'Beijing Sanlitun'"""),
    _pair(20, "medium", "Which products have never been ordered?", "哪些商品从来没有被订购过？",
          "SELECT name FROM products WHERE id NOT IN (SELECT product_id FROM order_items)"),
    _pair(21, "medium", "How many customers have never placed an order?", "有多少客户从未下过单？",
          "SELECT COUNT(*) FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)"),
    _pair(22, "medium", "Which regions have no customers yet?", "哪些大区还没有客户？",
          """SELECT r.name FROM regions AS r LEFT JOIN customers AS c ON c.region_id = r.id
             WHERE c.id IS NULL"""),
    _pair(23, "hard", "Which categories have no products at all, not even in their subcategories?",
          "哪些类目（包括其子类目）下完全没有商品？",
          """SELECT c.name FROM categories AS c WHERE NOT EXISTS (
               SELECT 1 FROM products AS p JOIN categories AS sub ON p.category_id = sub.id
               WHERE sub.id = c.id OR sub.parent_id = c.id)"""),
    _pair(24, "medium", "On which day did we receive the most orders, and how many?",
          "哪一天的订单最多？有多少单？",
          """SELECT order_date, COUNT(*) AS orders FROM orders GROUP BY order_date
             ORDER BY orders DESC LIMIT 1"""),
    _pair(25, "medium", "List every employee with the name of their direct manager.",
          "列出每位员工及其直属上级的姓名。",
          """SELECT e.name AS employee, m.name AS manager FROM employees AS e
             LEFT JOIN employees AS m ON e.manager_id = m.id"""),
    _pair(26, "medium", "How many orders were paid partly with a gift card?",
          "有多少订单部分使用了礼品卡支付？",
          "SELECT COUNT(DISTINCT order_id) FROM payments WHERE method = 'gift_card'"),
    _pair(27, "medium", "What is the average number of lines per order?", "平均每个订单有几行明细？",
          "SELECT COUNT(*) * 1.0 / COUNT(DISTINCT order_id) FROM order_items"),
    _pair(28, "medium", "List all cities where we have either customers or a retail store.",
          "列出所有有客户或有实体门店的城市。",
          "SELECT city FROM customers UNION SELECT city FROM stores WHERE city IS NOT NULL"),
    _pair(29, "medium", "Which products did the supplier Seoul Glow Cosmetics provide, with their prices?",
          "供应商 Seoul Glow Cosmetics 提供哪些商品？价格分别是多少？",
          """SELECT p.name, p.unit_price FROM products AS p JOIN suppliers AS s ON p.supplier_id = s.id
             WHERE s.name = 'Seoul Glow Cosmetics' ORDER BY p.unit_price DESC"""),
    _pair(30, "medium", "How many orders were placed on Singles' Day (November 11) each year?",
          "每年双十一（11月11日）当天各有多少订单？",
          """SELECT strftime('%Y', order_date) AS year, COUNT(*) AS orders FROM orders
             WHERE strftime('%m-%d', order_date) = '11-11' GROUP BY year"""),
    # --- hard: 3-4 table joins, correlated subqueries, set operations, CASE, dates ---
    _pair(31, "hard", "What are the top 5 products by units sold, not counting cancelled or returned orders?",
          "不计已取消和已退货的订单，销量（件数）最高的5个商品是什么？",
          """SELECT p.name, SUM(oi.quantity) AS units FROM order_items AS oi
             JOIN orders AS o ON oi.order_id = o.id JOIN products AS p ON oi.product_id = p.id
             WHERE o.status NOT IN ('cancelled', 'returned')
             GROUP BY p.id, p.name ORDER BY units DESC LIMIT 5"""),
    _pair(32, "hard", "Who are our top 3 customers by spending on delivered orders, and which region are they in?",
          "按已签收订单金额计算，消费最多的前3位客户是谁？分别属于哪个大区？",
          """SELECT c.name, r.name AS region, ROUND(SUM(o.total_amount), 2) AS spent FROM customers AS c
             JOIN orders AS o ON o.customer_id = c.id JOIN regions AS r ON c.region_id = r.id
             WHERE o.status = 'delivered' GROUP BY c.id, c.name, r.name ORDER BY spent DESC LIMIT 3"""),
    _pair(33, "hard", "Which employee was credited with the most revenue from delivered orders in 2024, "
          "and at which store do they work?",
          "2024年哪位员工经手的已签收订单销售额最高？在哪家门店工作？",
          """SELECT e.name, s.name AS store, ROUND(SUM(o.total_amount), 2) AS revenue FROM orders AS o
             JOIN employees AS e ON o.sales_rep_id = e.id JOIN stores AS s ON e.store_id = s.id
             WHERE o.status = 'delivered' AND o.order_date >= '2024-01-01' AND o.order_date < '2025-01-01'
             GROUP BY e.id, e.name, s.name ORDER BY revenue DESC LIMIT 1"""),
    _pair(34, "hard", "Which products were sold at least once below their current list price?",
          "哪些商品曾以低于当前标价的单价（折扣前）售出过？",
          """SELECT DISTINCT p.name FROM products AS p JOIN order_items AS oi ON oi.product_id = p.id
             WHERE oi.unit_price < p.unit_price"""),
    _pair(35, "hard", "How many customers ordered in both 2023 and 2024?", "有多少客户在2023年和2024年都下过单？",
          """SELECT COUNT(*) FROM (SELECT customer_id FROM orders WHERE strftime('%Y', order_date) = '2023'
             INTERSECT SELECT customer_id FROM orders WHERE strftime('%Y', order_date) = '2024')"""),
    _pair(36, "hard", "Which customers ordered in 2023 but not at all in 2024? Show their names.",
          "哪些客户2023年下过单但2024年没有？列出姓名。",
          """SELECT name FROM customers WHERE id IN (
               SELECT customer_id FROM orders WHERE order_date BETWEEN '2023-01-01' AND '2023-12-31'
               EXCEPT SELECT customer_id FROM orders WHERE order_date BETWEEN '2024-01-01' AND '2024-12-31')"""),
    _pair(37, "hard", "What share of orders was returned in each year, in percent?",
          "每年退货订单占订单总数的百分比是多少？",
          """SELECT strftime('%Y', order_date) AS year,
                    ROUND(100.0 * SUM(CASE WHEN status = 'returned' THEN 1 ELSE 0 END) / COUNT(*), 2) AS pct
             FROM orders GROUP BY year"""),
    _pair(38, "hard", "Which products have an average rating of 4.5 or higher with at least 10 reviews?",
          "哪些商品有至少10条评价且平均评分不低于4.5？",
          """SELECT p.name, AVG(r.rating) AS avg_rating, COUNT(*) AS reviews FROM reviews AS r
             JOIN products AS p ON r.product_id = p.id GROUP BY p.id, p.name
             HAVING COUNT(*) >= 10 AND AVG(r.rating) >= 4.5 ORDER BY avg_rating DESC"""),
    _pair(39, "hard", "Which products are priced above the average price of their own category?",
          "哪些商品的价格高于其所在类目的平均价格？",
          """SELECT p.name, p.unit_price FROM products AS p
             WHERE p.unit_price > (SELECT AVG(q.unit_price) FROM products AS q WHERE q.category_id = p.category_id)"""),
    _pair(40, "hard", "How many customers fall into each age group (under 30, 30-44, 45-59, 60+, unknown) as of 2024?",
          "按2024年计算，各年龄段（30岁以下、30-44、45-59、60岁及以上、未知）各有多少客户？",
          """SELECT CASE WHEN birth_year IS NULL THEN 'unknown' WHEN 2024 - birth_year < 30 THEN 'under 30'
                         WHEN 2024 - birth_year < 45 THEN '30-44' WHEN 2024 - birth_year < 60 THEN '45-59'
                         ELSE '60+' END AS age_group, COUNT(*) AS customers
             FROM customers GROUP BY age_group"""),
    _pair(41, "hard", "For delivered online and marketplace orders, how many days on average did delivery take "
          "per channel?",
          "对已签收的线上和平台订单，各渠道从下单到签收平均需要多少天？",
          """SELECT s.name, ROUND(AVG(julianday(o.delivered_date) - julianday(o.order_date)), 2) AS avg_days
             FROM orders AS o JOIN stores AS s ON o.store_id = s.id
             WHERE o.status = 'delivered' AND s.channel IN ('online', 'marketplace')
             GROUP BY s.id, s.name ORDER BY avg_days"""),
    _pair(42, "hard", "Which store has the highest cancellation rate?", "哪家门店/渠道的订单取消率最高？",
          """SELECT s.name, 1.0 * SUM(o.status = 'cancelled') / COUNT(*) AS cancel_rate FROM orders AS o
             JOIN stores AS s ON o.store_id = s.id GROUP BY s.id, s.name ORDER BY cancel_rate DESC LIMIT 1"""),
    _pair(43, "hard", "How many products does each top-level category have, counting its subcategories?",
          "每个一级类目（含其子类目）下有多少商品？",
          """SELECT top.name, COUNT(p.id) AS products FROM categories AS top
             LEFT JOIN categories AS sub ON sub.id = top.id OR sub.parent_id = top.id
             LEFT JOIN products AS p ON p.category_id = sub.id
             WHERE top.parent_id IS NULL GROUP BY top.id, top.name ORDER BY products DESC"""),
    _pair(44, "hard", "What was the revenue by customer segment and year, excluding cancelled and returned orders?",
          "不计已取消和已退货订单，按客户类型和年份统计销售额。",
          """SELECT c.segment, strftime('%Y', o.order_date) AS year, ROUND(SUM(o.total_amount), 2) AS revenue
             FROM orders AS o JOIN customers AS c ON o.customer_id = c.id
             WHERE o.status NOT IN ('cancelled', 'returned') GROUP BY c.segment, year ORDER BY c.segment, year"""),
    _pair(45, "hard", "What is the average discount given in November compared with the other months?",
          "11月份的平均折扣与其他月份相比如何？",
          """SELECT CASE WHEN strftime('%m', o.order_date) = '11' THEN 'November' ELSE 'other months' END AS period,
                    ROUND(AVG(oi.discount), 4) AS avg_discount
             FROM order_items AS oi JOIN orders AS o ON oi.order_id = o.id GROUP BY period"""),
    # --- extra: four tables, margins, window functions, first-purchase logic ---
    _pair(46, "extra", "Which supplier's products brought in the most revenue from delivered orders in 2024?",
          "2024年已签收订单中，哪家供应商的商品带来的销售额最高？",
          """SELECT su.name, ROUND(SUM(oi.quantity * oi.unit_price * (1 - oi.discount)), 2) AS revenue
             FROM suppliers AS su JOIN products AS p ON p.supplier_id = su.id
             JOIN order_items AS oi ON oi.product_id = p.id JOIN orders AS o ON oi.order_id = o.id
             WHERE o.status = 'delivered' AND strftime('%Y', o.order_date) = '2024'
             GROUP BY su.id, su.name ORDER BY revenue DESC LIMIT 1"""),
    _pair(47, "extra", "What was the gross margin of each top-level category on delivered orders "
          "(revenue after discount minus product cost)?",
          "按一级类目统计已签收订单的毛利（折后销售额减去商品成本）。",
          """SELECT COALESCE(parent.name, cat.name) AS category,
                    ROUND(SUM(oi.quantity * (oi.unit_price * (1 - oi.discount) - p.cost)), 2) AS gross_margin
             FROM order_items AS oi JOIN orders AS o ON oi.order_id = o.id
             JOIN products AS p ON oi.product_id = p.id JOIN categories AS cat ON p.category_id = cat.id
             LEFT JOIN categories AS parent ON cat.parent_id = parent.id
             WHERE o.status = 'delivered' GROUP BY category ORDER BY gross_margin DESC"""),
    _pair(48, "extra", "What is the best-selling product by revenue in each top-level category (delivered orders)?",
          "在已签收订单中，每个一级类目里销售额最高的商品是哪个？",
          """WITH sales AS (
               SELECT COALESCE(cat.parent_id, cat.id) AS top_id, p.name,
                      SUM(oi.quantity * oi.unit_price * (1 - oi.discount)) AS revenue
               FROM order_items AS oi JOIN orders AS o ON oi.order_id = o.id
               JOIN products AS p ON oi.product_id = p.id JOIN categories AS cat ON p.category_id = cat.id
               WHERE o.status = 'delivered' GROUP BY top_id, p.id, p.name),
             ranked AS (SELECT top_id, name, revenue,
                               ROW_NUMBER() OVER (PARTITION BY top_id ORDER BY revenue DESC) AS rn FROM sales)
             SELECT c.name AS category, ranked.name AS product, ROUND(ranked.revenue, 2) AS revenue
             FROM ranked JOIN categories AS c ON c.id = ranked.top_id WHERE rn = 1 ORDER BY revenue DESC"""),
    _pair(49, "extra", "Show the monthly revenue of delivered orders in 2024 together with the running total "
          "for the year.",
          "列出2024年每月已签收订单的销售额以及全年累计销售额。",
          """SELECT month, revenue, ROUND(SUM(revenue) OVER (ORDER BY month), 2) AS running_total FROM (
               SELECT strftime('%m', order_date) AS month, ROUND(SUM(total_amount), 2) AS revenue FROM orders
               WHERE status = 'delivered' AND strftime('%Y', order_date) = '2024' GROUP BY month)
             ORDER BY month"""),
    _pair(50, "extra", "How did the number of orders change from one month to the next in 2024?",
          "2024年每个月的订单数比上个月增加或减少了多少？",
          """SELECT month, orders, change FROM (
               SELECT month, orders, orders - LAG(orders) OVER (ORDER BY month) AS change FROM (
                 SELECT strftime('%Y-%m', order_date) AS month, COUNT(*) AS orders FROM orders GROUP BY month))
             WHERE month BETWEEN '2024-01' AND '2024-12' ORDER BY month"""),
    _pair(51, "extra", "How many new customers placed their first order in each quarter of 2024?",
          "2024年每个季度有多少客户下了他们的第一笔订单？",
          """SELECT (CAST(strftime('%m', first_order) AS INTEGER) + 2) / 3 AS quarter, COUNT(*) AS new_customers
             FROM (SELECT customer_id, MIN(order_date) AS first_order FROM orders GROUP BY customer_id)
             WHERE first_order BETWEEN '2024-01-01' AND '2024-12-31' GROUP BY quarter ORDER BY quarter"""),
    _pair(52, "extra", "In each region, which city has the most customers?",
          "每个大区里客户最多的城市是哪个？",
          """SELECT region, city, customers FROM (
               SELECT r.name AS region, c.city, COUNT(*) AS customers,
                      RANK() OVER (PARTITION BY r.id ORDER BY COUNT(*) DESC) AS rnk
               FROM customers AS c JOIN regions AS r ON c.region_id = r.id GROUP BY r.id, r.name, c.city)
             WHERE rnk = 1 ORDER BY region"""),
    _pair(53, "extra", "Which customers have spent more on delivered orders than the average customer "
          "who has any delivered order?",
          "哪些客户的已签收订单消费总额高于有已签收订单的客户的平均消费？",
          """SELECT c.name, ROUND(SUM(o.total_amount), 2) AS spent FROM customers AS c
             JOIN orders AS o ON o.customer_id = c.id WHERE o.status = 'delivered' GROUP BY c.id, c.name
             HAVING SUM(o.total_amount) > (
               SELECT AVG(per_customer) FROM (SELECT SUM(total_amount) AS per_customer FROM orders
                                              WHERE status = 'delivered' GROUP BY customer_id))
             ORDER BY spent DESC"""),
]


# --- build --------------------------------------------------------------------------------------------------

TABLE_ORDER = ["regions", "stores", "employees", "customers", "categories", "suppliers", "products", "orders",
               "order_items", "payments", "reviews"]


def build_db(path: Path) -> None:
    """Write the database to ``path`` (replaced if present), deterministically."""
    data = generate(random.Random(SEED))
    mem = sqlite3.connect(":memory:")
    mem.execute("PRAGMA page_size = 4096")
    mem.execute("PRAGMA foreign_keys = ON")
    mem.executescript(SCHEMA)
    with mem:
        for table in TABLE_ORDER:
            rows = data[table]
            marks = ", ".join("?" * len(rows[0]))
            mem.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    problems = mem.execute("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise SystemExit(f"foreign key violations: {problems[:5]}")
    mem.execute("PRAGMA user_version = 1")
    if path.exists():
        path.unlink()
    mem.execute("VACUUM INTO ?", (str(path),))
    mem.close()


def check_pairs(db_path: Path) -> None:
    """Every pair must run on the fresh database and return at least one row; ids unique."""
    ids = [p["id"] for p in PAIRS]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate pair ids")
    conn = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)
    try:
        for p in PAIRS:
            if set(p) - {"id", "question", "question_zh", "sql", "difficulty"}:
                raise SystemExit(f"{p['id']}: unexpected keys {sorted(p)}")
            if p["difficulty"] not in ("easy", "medium", "hard", "extra"):
                raise SystemExit(f"{p['id']}: bad difficulty {p['difficulty']!r}")
            try:
                rows = conn.execute(p["sql"]).fetchall()
            except sqlite3.Error as e:
                raise SystemExit(f"{p['id']}: {e}\n{p['sql']}") from e
            if not rows:
                raise SystemExit(f"{p['id']}: returns no rows\n{p['sql']}")
    finally:
        conn.close()


def build(out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / DB_NAME
    pairs_path = out_dir / PAIRS_NAME
    build_db(db_path)
    check_pairs(db_path)
    pairs_path.write_text(json.dumps(PAIRS, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return db_path, pairs_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT,
                        help=f"where to write {DB_NAME} and {PAIRS_NAME} (default: the package resources)")
    args = parser.parse_args(argv)
    db_path, pairs_path = build(args.out_dir)
    print(f"wrote {db_path} ({db_path.stat().st_size:,} bytes) and {pairs_path} ({len(PAIRS)} pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
